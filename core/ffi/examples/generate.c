/*
 * generate.c: armlet-core from C through armlet.h. Reads a GGUF model into memory, asks
 * each piece's size, allocates it, tokenizes the prompt, feeds it, generates N tokens
 * greedily (stopping at an end-of-generation token, as armlet does) and prints the text.
 *
 * Usage: generate MODEL PROMPT N
 * stdout: the prompt as given, the generated text and a newline: byte for byte what
 * `armlet -m MODEL -p PROMPT -n N -no-cnv --temp 0` prints. Errors go to stderr with
 * the library's message; exit status 1.
 * Built and run by scripts/run-c-example (zig cc, static, ARMv6; qemu-arm -cpu arm1176).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "armlet.h"

static void check(ArmletStatus s, const char *what) {
    if (s != ARMLET_OK) {
        fprintf(stderr, "generate: %s: %s (status %d)\n", what, armlet_status_message(s), (int)s);
        exit(1);
    }
}

/* Memory for a handle: aligned_alloc wants a size that is a multiple of the alignment. */
static void *alloc(size_t n) {
    void *p = aligned_alloc(ARMLET_ALIGN, (n + ARMLET_ALIGN - 1) / ARMLET_ALIGN * ARMLET_ALIGN);
    if (!p) { fprintf(stderr, "generate: out of memory (%zu bytes)\n", n); exit(1); }
    return p;
}

static unsigned char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) { perror(path); exit(1); }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *bytes = alloc((size_t)n);
    if (n < 0 || fread(bytes, 1, (size_t)n, f) != (size_t)n) { perror(path); exit(1); }
    fclose(f);
    *len = (size_t)n;
    return bytes;
}

int main(int argc, char **argv) {
    if (argc != 4) { fprintf(stderr, "usage: generate MODEL PROMPT N\n"); return 2; }
    const char *prompt = argv[2];
    size_t n_predict = (size_t)strtoul(argv[3], NULL, 10);

    size_t model_len, size;
    unsigned char *bytes = read_file(argv[1], &model_len);
    ArmletModel *model;
    check(armlet_model_size(&size, NULL), "model size");
    check(armlet_model_init(alloc(size), size, bytes, model_len, &model), "model");

    ArmletTokenizer *tok;
    size_t max_fragment = strlen(prompt) > 4096 ? strlen(prompt) : 0;
    check(armlet_tokenizer_size(model, max_fragment, &size), "tokenizer size");
    check(armlet_tokenizer_init(alloc(size), size, model, max_fragment, &tok), "tokenizer");

    /* Tokenize: ask the count first (ARMLET_ERR_OUTPUT_FULL gives it), then fill. */
    size_t n_prompt = 0;
    ArmletStatus s = armlet_tokenize(tok, (const uint8_t *)prompt, strlen(prompt), true, true, NULL, 0, &n_prompt);
    if (s != ARMLET_ERR_OUTPUT_FULL) check(s, "tokenize");
    uint32_t *ids = alloc((n_prompt + 1) * sizeof *ids);
    check(armlet_tokenize(tok, (const uint8_t *)prompt, strlen(prompt), true, true, ids, n_prompt, &n_prompt), "tokenize");

    ArmletSession *session;
    size_t n_ctx = n_prompt + n_predict;
    check(armlet_session_size(model, n_ctx, ARMLET_KV_F16, &size), "session size");
    check(armlet_session_init(alloc(size), size, model, n_ctx, ARMLET_KV_F16, &session), "session");

    ArmletDetokenizer *detok;
    check(armlet_detokenizer_size(&size, NULL), "detokenizer size");
    check(armlet_detokenizer_init(alloc(size), size, tok, false, &detok), "detokenizer");

    fputs(prompt, stdout);
    check(armlet_session_feed(session, ids, n_prompt), "prompt");
    uint8_t text[256];
    size_t written;
    for (size_t i = 0; i < n_predict; i++) {
        uint32_t id;
        bool eog;
        check(armlet_session_next_greedy(session, &id), "next token");
        check(armlet_token_is_eog(tok, id, &eog), "end of generation");
        if (eog) break;
        check(armlet_detokenize(detok, id, text, sizeof text, &written), "detokenize");
        fwrite(text, 1, written, stdout);
        fflush(stdout);
        if (i + 1 < n_predict) check(armlet_session_feed(session, &id, 1), "feed");
    }
    check(armlet_detokenizer_finish(detok, text, sizeof text, &written), "detokenize");
    fwrite(text, 1, written, stdout);
    putchar('\n'); /* armlet ends its output with a newline too */
    return 0;
}
