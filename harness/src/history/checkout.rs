//! The commit and branch a result was measured at: from the flags, else the CI's usual environment
//! variables, else the git checkout the experiment file is in. `harness run` records what it found in
//! `environment.json` (`checkout`), so that a result folder kept as a CI artifact still says it.

use std::path::Path;

use serde::{Deserialize, Serialize};

/// A commit and a branch, each when known.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Checkout {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
}

/// The CI services' variables of the commit and of the branch, in the order they are asked. GitHub's
/// `GITHUB_HEAD_REF` is the branch of a pull request, `GITHUB_REF_NAME` otherwise that of the push.
const CI_VARIABLES: &[(&str, &[&str])] = &[
    ("GITHUB_SHA", &["GITHUB_HEAD_REF", "GITHUB_REF_NAME"]),
    ("CI_COMMIT_SHA", &["CI_COMMIT_REF_NAME"]),
    ("BUILDKITE_COMMIT", &["BUILDKITE_BRANCH"]),
    ("CIRCLE_SHA1", &["CIRCLE_BRANCH"]),
    ("TRAVIS_COMMIT", &["TRAVIS_BRANCH"]),
    ("BITBUCKET_COMMIT", &["BITBUCKET_BRANCH"]),
    ("GIT_COMMIT", &["GIT_BRANCH"]),
];

impl Checkout {
    /// Each field of `self`, else of `other`.
    pub(crate) fn or(self, other: impl FnOnce() -> Checkout) -> Checkout {
        if self.commit.is_some() && self.branch.is_some() {
            return self;
        }
        let other = other();
        Checkout { commit: self.commit.or(other.commit), branch: self.branch.or(other.branch) }
    }

    /// What the first CI service whose commit variable is set says; `get` reads a variable.
    pub(crate) fn from_ci(get: impl Fn(&str) -> Option<String>) -> Checkout {
        let get = |name: &str| get(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        for (commit, branches) in CI_VARIABLES {
            if let Some(commit) = get(commit) {
                return Checkout { commit: Some(commit), branch: branches.iter().find_map(|b| get(b)) };
            }
        }
        Checkout::default()
    }

    /// The checkout of the git work tree `dir` is in: its `HEAD`, and its branch unless detached. Nothing
    /// when `dir` is in none, or git is not installed.
    pub(crate) fn from_git(dir: &Path) -> Checkout {
        let git = |args: &[&str]| {
            let output = std::process::Command::new("git")
                .arg("-C")
                .arg(if dir.as_os_str().is_empty() { Path::new(".") } else { dir })
                .args(args)
                .stdin(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .output()
                .ok()?;
            let text = String::from_utf8(output.stdout).ok()?.trim().to_owned();
            (output.status.success() && !text.is_empty()).then_some(text)
        };
        Checkout {
            commit: git(&["rev-parse", "HEAD"]),
            branch: git(&["rev-parse", "--abbrev-ref", "HEAD"]).filter(|b| b != "HEAD"),
        }
    }

    /// The checkout of a run of the experiment file `file`: `flags`, else the CI's variables, else git.
    pub(crate) fn of_run(flags: Checkout, file: &Path) -> Checkout {
        flags
            .or(|| Checkout::from_ci(|name| std::env::var(name).ok()))
            .or(|| Checkout::from_git(file.parent().unwrap_or(Path::new("."))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        move |name| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    }

    #[test]
    fn ci_variables_name_the_commit_and_the_branch() {
        let github = Checkout::from_ci(vars(&[("GITHUB_SHA", "abc"), ("GITHUB_REF_NAME", "main")]));
        assert_eq!(github, Checkout { commit: Some("abc".into()), branch: Some("main".into()) });
        // A pull request's branch is its head's, not the merge ref.
        let pull = Checkout::from_ci(vars(&[
            ("GITHUB_SHA", "abc"),
            ("GITHUB_HEAD_REF", "feature"),
            ("GITHUB_REF_NAME", "12/merge"),
        ]));
        assert_eq!(pull.branch.as_deref(), Some("feature"));
        let gitlab = Checkout::from_ci(vars(&[("CI_COMMIT_SHA", "def"), ("CI_COMMIT_REF_NAME", "dev")]));
        assert_eq!(gitlab, Checkout { commit: Some("def".into()), branch: Some("dev".into()) });
        assert_eq!(Checkout::from_ci(vars(&[("GITHUB_SHA", " ")])), Checkout::default());
    }

    #[test]
    fn a_flag_comes_before_what_is_found() {
        let flags = Checkout { commit: Some("flag".into()), branch: None };
        let found = flags.or(|| Checkout { commit: Some("ci".into()), branch: Some("main".into()) });
        assert_eq!(found, Checkout { commit: Some("flag".into()), branch: Some("main".into()) });
    }
}
