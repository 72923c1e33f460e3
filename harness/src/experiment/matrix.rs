//! Matrix expansion, with the semantics of GitHub Actions' `strategy.matrix`.
//!
//! 1. The cells are the cartesian product of the axes, in order (the last axis varies fastest); with no
//!    axes there are none.
//! 2. An `exclude` entry removes every cell that matches all of its keys; a list value matches any of its
//!    elements.
//! 3. Each `include` entry is merged into every remaining product cell whose original axis values it does
//!    not contradict (values it adds may overwrite values an earlier include added); an entry that matches
//!    no cell becomes a cell of its own.

use std::fmt;

use indexmap::IndexMap;

/// One value of an axis.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    String(std::sync::Arc<str>),
    Integer(i64),
    Float(f64),
    Bool(bool),
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::String(s) => f.write_str(s),
            Value::Integer(i) => write!(f, "{i}"),
            Value::Float(x) => write!(f, "{x}"),
            Value::Bool(b) => write!(f, "{b}"),
        }
    }
}

impl Value {
    pub(crate) fn to_json(&self) -> serde_json::Value {
        match self {
            Value::String(s) => s.to_string().into(),
            Value::Integer(i) => (*i).into(),
            Value::Float(x) => (*x).into(),
            Value::Bool(b) => (*b).into(),
        }
    }
}

/// A value by its type and bits, for hashing: `1`, `1.0` and `"1"` are three keys, as they are three values.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum ValueKey {
    String(std::sync::Arc<str>),
    Integer(i64),
    Float(u64),
    Bool(bool),
}

impl Value {
    pub(crate) fn key(&self) -> ValueKey {
        match self {
            Value::String(s) => ValueKey::String(s.clone()),
            Value::Integer(i) => ValueKey::Integer(*i),
            // -0.0 == 0.0 as values: one key.
            Value::Float(x) => ValueKey::Float(if *x == 0.0 { 0 } else { x.to_bits() }),
            Value::Bool(b) => ValueKey::Bool(*b),
        }
    }
}

/// A cell: axis name to value, in column order.
pub(crate) type Cell = IndexMap<std::sync::Arc<str>, Value>;

/// A condition of an `exclude` entry: the key's value must be one of these.
pub(crate) type Pattern = IndexMap<String, Vec<Value>>;

/// Expands `axes` into cells, then applies `exclude` and `include`.
pub(crate) fn expand(axes: &[(String, Vec<Value>)], exclude: &[Pattern], include: &[Cell]) -> Vec<Cell> {
    // Room for the axes and every key an `include` entry adds: each cell is allocated once, at its size.
    let mut width = axes.len();
    let mut added: Vec<&str> = Vec::new();
    for key in include.iter().flat_map(|entry| entry.keys()) {
        if !axes.iter().any(|(name, _)| **name == **key) && !added.contains(&&**key) {
            added.push(key);
            width += 1;
        }
    }
    // One copy of each name for every cell.
    let names: Vec<std::sync::Arc<str>> = axes.iter().map(|(name, _)| name.as_str().into()).collect();
    let mut cells: Vec<Cell> = Vec::new();
    // No axes means no product cells (only `include` entries), as in GitHub Actions.
    if !axes.is_empty() && axes.iter().all(|(_, values)| !values.is_empty()) {
        // The product in order, the last axis fastest: `at` counts in mixed radix.
        let mut at = vec![0; axes.len()];
        'product: loop {
            let mut cell = Cell::with_capacity(width);
            for ((name, (_, values)), &i) in names.iter().zip(axes).zip(&at) {
                cell.insert(std::sync::Arc::clone(name), values[i].clone());
            }
            if !exclude.iter().any(|pattern| matches(&cell, pattern)) {
                cells.push(cell);
            }
            let mut digit = axes.len();
            loop {
                if digit == 0 {
                    break 'product;
                }
                digit -= 1;
                at[digit] += 1;
                if at[digit] < axes[digit].1.len() {
                    break;
                }
                at[digit] = 0;
            }
        }
    }

    let original = |key: &str| axes.iter().any(|(name, _)| name == key);
    let product = cells.len();
    for entry in include {
        let mut merged = false;
        for cell in &mut cells[..product] {
            let compatible = entry.iter().all(|(k, v)| !original(k) || cell.get(k) == Some(v));
            if compatible {
                for (k, v) in entry {
                    cell.insert(k.clone(), v.clone());
                }
                merged = true;
            }
        }
        if !merged {
            cells.push(entry.clone());
        }
    }
    cells
}

/// Whether `cell` has every key of `pattern` with one of its values.
pub(crate) fn matches(cell: &Cell, pattern: &Pattern) -> bool {
    pattern.iter().all(|(k, allowed)| cell.get(k.as_str()).is_some_and(|v| allowed.contains(v)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn s(v: &str) -> Value {
        Value::String(v.into())
    }

    fn cell(pairs: &[(&str, Value)]) -> Cell {
        pairs.iter().map(|(k, v)| ((*k).into(), v.clone())).collect()
    }

    #[test]
    fn github_actions_include_example() {
        // The example of the GitHub Actions documentation, "Expanding or adding matrix configurations".
        let axes =
            vec![("fruit".to_owned(), vec![s("apple"), s("pear")]), ("animal".to_owned(), vec![s("cat"), s("dog")])];
        let include = vec![
            cell(&[("color", s("green"))]),
            cell(&[("color", s("pink")), ("animal", s("cat"))]),
            cell(&[("fruit", s("apple")), ("shape", s("circle"))]),
            cell(&[("fruit", s("banana"))]),
            cell(&[("fruit", s("banana")), ("animal", s("cat"))]),
        ];
        let cells = expand(&axes, &[], &include);
        let expected = vec![
            cell(&[("fruit", s("apple")), ("animal", s("cat")), ("color", s("pink")), ("shape", s("circle"))]),
            cell(&[("fruit", s("apple")), ("animal", s("dog")), ("color", s("green")), ("shape", s("circle"))]),
            cell(&[("fruit", s("pear")), ("animal", s("cat")), ("color", s("pink"))]),
            cell(&[("fruit", s("pear")), ("animal", s("dog")), ("color", s("green"))]),
            cell(&[("fruit", s("banana"))]),
            cell(&[("fruit", s("banana")), ("animal", s("cat"))]),
        ];
        assert_eq!(cells, expected);
    }

    #[test]
    fn with_no_axes_each_include_entry_is_a_cell() {
        let include =
            vec![cell(&[("executor", s("sync"))]), cell(&[("executor", s("async")), ("workers", Value::Integer(2))])];
        assert_eq!(expand(&[], &[], &include), include);
    }

    #[test]
    fn exclude_with_a_list_matches_any_element() {
        let axes = vec![
            ("executor".to_owned(), vec![s("sync"), s("threaded")]),
            ("workers".to_owned(), vec![Value::Integer(1), Value::Integer(2), Value::Integer(8)]),
        ];
        let exclude: Pattern = [
            ("executor".to_owned(), vec![s("sync")]),
            ("workers".to_owned(), vec![Value::Integer(2), Value::Integer(8)]),
        ]
        .into_iter()
        .collect();
        let cells = expand(&axes, &[exclude], &[]);
        assert_eq!(cells.len(), 4);
        assert!(cells.iter().all(|c| c["executor"] != s("sync") || c["workers"] == Value::Integer(1)));
    }

    fn axes_strategy() -> impl Strategy<Value = Vec<(String, Vec<Value>)>> {
        prop::collection::vec(prop::collection::vec(0i64..4, 0..4), 0..4).prop_map(|axes| {
            axes.into_iter()
                .enumerate()
                .map(|(i, mut values)| {
                    values.sort_unstable();
                    values.dedup();
                    (format!("a{i}"), values.into_iter().map(Value::Integer).collect())
                })
                .collect()
        })
    }

    proptest! {
        #[test]
        fn product_size_is_the_product_of_axis_lengths(axes in axes_strategy()) {
            let cells = expand(&axes, &[], &[]);
            let expected: usize = if axes.is_empty() { 0 } else { axes.iter().map(|(_, v)| v.len()).product() };
            prop_assert_eq!(cells.len(), expected);
            // Every cell is distinct and has every axis.
            for (i, c) in cells.iter().enumerate() {
                prop_assert_eq!(c.len(), axes.len());
                prop_assert!(!cells[..i].contains(c));
            }
        }

        #[test]
        fn exclude_removes_exactly_the_matching_cells(axes in axes_strategy(), pick in 0i64..4) {
            prop_assume!(!axes.is_empty());
            let pattern: Pattern = [(axes[0].0.clone(), vec![Value::Integer(pick)])].into_iter().collect();
            let all = expand(&axes, &[], &[]);
            let kept = expand(&axes, std::slice::from_ref(&pattern), &[]);
            prop_assert!(kept.iter().all(|c| !matches(c, &pattern)));
            prop_assert_eq!(kept.len(), all.iter().filter(|c| !matches(c, &pattern)).count());
        }

        #[test]
        fn include_never_changes_original_values_nor_drops_cells(axes in axes_strategy(), pick in 0i64..4) {
            prop_assume!(!axes.is_empty());
            let entry = cell(&[(axes[0].0.as_str(), Value::Integer(pick)), ("extra", Value::Bool(true))]);
            let before = expand(&axes, &[], &[]);
            let after = expand(&axes, &[], std::slice::from_ref(&entry));
            let merged = before.iter().any(|c| c[axes[0].0.as_str()] == Value::Integer(pick));
            prop_assert_eq!(after.len(), before.len() + usize::from(!merged));
            for (b, a) in before.iter().zip(&after) {
                for (k, v) in b {
                    prop_assert_eq!(&a[k], v);
                }
                prop_assert_eq!(a.contains_key("extra"), b[axes[0].0.as_str()] == Value::Integer(pick));
            }
        }
    }
}
