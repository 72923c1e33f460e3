/* A step library written in C against the step ABI of harness_sdk::steplib, with one function, `build`,
 * which returns BUILD: a number given when it is compiled (`cc -DBUILD=2`). Two builds of it are two
 * versions of one library, for the tests of a library replaced during an experiment or before a resume.
 * Built by the tests with `cc -shared -fPIC`. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#ifndef BUILD
#define BUILD 1
#endif

typedef struct {
    uint8_t *ptr;
    size_t len;
    size_t capacity;
} Buffer;

typedef struct {
    uint64_t magic;
    uint32_t abi_version;
    uint32_t size;
    int32_t (*functions)(Buffer *out);
    int32_t (*init)(uint32_t worker, uint64_t seed, void **state, Buffer *out);
    int32_t (*call)(void *state, uint32_t function, uint64_t task, uint32_t worker, uint64_t seed,
                    const uint8_t *arg, size_t len, uint64_t *value, Buffer *out);
    void (*release)(Buffer buffer);
    const void *reserved;
} Descriptor;

/* "HRNSSTEP" read as a big-endian number, and the step ABI's version. */
#define MAGIC 0x48524e5353544550ULL
#define ABI_VERSION 1

static int32_t fill(Buffer *out, const char *text) {
    size_t len = strlen(text);
    uint8_t *ptr = malloc(len + 1);
    if (ptr == NULL) return 1;
    memcpy(ptr, text, len);
    out->ptr = ptr;
    out->len = len;
    out->capacity = len + 1;
    return 0;
}

static int32_t functions(Buffer *out) { return fill(out, "[\"build\"]"); }

static int32_t init(uint32_t worker, uint64_t seed, void **state, Buffer *out) {
    (void)worker;
    (void)seed;
    *state = NULL;
    return fill(out, "");
}

static int32_t call(void *state, uint32_t function, uint64_t task, uint32_t worker, uint64_t seed,
                    const uint8_t *arg, size_t len, uint64_t *value, Buffer *out) {
    (void)state, (void)function, (void)task, (void)worker, (void)seed, (void)arg, (void)len;
    *value = BUILD;
    return fill(out, "[]");
}

static void release(Buffer buffer) { free(buffer.ptr); }

static const Descriptor descriptor = {MAGIC, ABI_VERSION, sizeof(Descriptor), functions, init, call, release, NULL};

const Descriptor *harness_steps_entry(void) { return &descriptor; }
