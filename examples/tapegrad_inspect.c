/* tapegrad-inspect: what a safetensors file holds, as safetensors and
 * transformers users expect to see it: each tensor's name, dtype and shape,
 * the total parameter count, and the metadata. Reads only the header (every
 * part of it checked), never the data, so it is instant on any size.
 *
 *     tapegrad-inspect [--quiet] FILE
 *     tapegrad-inspect --config
 *
 * --quiet prints only the tensors' lines, for scripts. Exits 1 with the
 * reason (file, tensor, byte offset) if the file is not a valid safetensors
 * file, 2 on a usage error. --config prints what the library runs with on
 * this machine instead (its version, the SIMD level its kernels chose on
 * this CPU, its thread count), for bug reports: the SIMD level decides the
 * last bits of a result. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <tapegrad/gemm.h>
#include <tapegrad/safetensors.h>
#include <tapegrad/threads.h>
#include <tapegrad/version.h>

/* n with thousands separators: 1,234,567. */
static const char *grouped(int64_t n, char *buf, size_t len)
{
    char digits[32];
    int nd = snprintf(digits, sizeof digits, "%lld", (long long)n), out = 0;
    for (int i = 0; i < nd && out + 2 < (int)len; i++) {
        if (i > 0 && (nd - i) % 3 == 0) buf[out++] = ',';
        buf[out++] = digits[i];
    }
    buf[out] = '\0';
    return buf;
}

/* Metadata may hold any character, and names the C1 controls (U+0080 to
 * U+009F, which a terminal may take as ESC [ and the like): print control
 * characters escaped, so that a file cannot drive the terminal. Returns the
 * number of bytes printed (with `out` NULL, only counts them). */
static int print_escaped(FILE *out, const char *s)
{
    int n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char esc[8] = "";
        if (*p == '\n')
            strcpy(esc, "\\n");
        else if (*p == '\t')
            strcpy(esc, "\\t");
        else if (*p < 0x20 || *p == 0x7F)
            snprintf(esc, sizeof esc, "\\x%02x", *p);
        else if (*p == 0xC2 && p[1] >= 0x80 && p[1] <= 0x9F)
            snprintf(esc, sizeof esc, "\\u%04x", *++p);
        if (*esc) {
            if (out) fputs(esc, out);
            n += (int)strlen(esc);
        } else {
            if (out) putc(*p, out);
            n++;
        }
    }
    return n;
}

int main(int argc, char **argv)
{
    const char *path = NULL;
    bool quiet = false, help = false, bad = false, config = false;
    for (int i = 1; i < argc && !help && !bad; i++) {
        if (strcmp(argv[i], "--quiet") == 0) quiet = true;
        else if (strcmp(argv[i], "--config") == 0) config = true;
        else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) help = true;
        else if (argv[i][0] == '-') {
            fprintf(stderr, "%s: unknown option '%s'\n", argv[0], argv[i]);
            bad = true;
        } else {
            bad = path != NULL; /* one file */
            path = argv[i];
        }
    }
    if (config && !path && !quiet && !help && !bad) {
        printf("tapegrad %s\nsimd: %s\nthreads: %d\n", tg_version(), tg_simd_level(), tg_get_num_threads());
        return 0;
    }
    if (help || bad || !path || config) {
        fprintf(help ? stdout : stderr,
                "usage: %s [--quiet] FILE\n  print the tensors (name, dtype, shape), parameter count and metadata of "
                "a safetensors file\n  (--quiet: only the tensors' lines)\n"
                "   or: %s --config\n  print the library's version, the SIMD level it chose on this CPU and its "
                "thread count\n",
                argv[0], argv[0]);
        return help ? 0 : 2;
    }
    tg_safetensors *f = tg_safetensors_open(path);
    if (!f) {
        fprintf(stderr, "%s: %s\n", argv[0], tg_last_error());
        return 1;
    }
    int count = tg_safetensors_count(f), width = 4;
    for (int i = 0; i < count; i++) {
        int len = print_escaped(NULL, tg_safetensors_entry_at(f, i)->name);
        width = len > width ? len : width;
    }
    width = width > 60 ? 60 : width;
    int64_t params = 0, bytes = 0;
    if (!quiet) printf("%-*s  %-7s  %s\n", width, "name", "dtype", "shape");
    for (int i = 0; i < count; i++) {
        const tg_safetensors_entry *e = tg_safetensors_entry_at(f, i);
        int pad = width - print_escaped(stdout, e->name);
        printf("%*s  %-7s  [", pad > 0 ? pad : 0, "", e->dtype);
        for (int d = 0; d < e->ndim; d++) printf(d ? ", %lld" : "%lld", (long long)e->shape[d]);
        printf("]\n");
        params += e->numel;
        bytes += e->nbytes;
    }
    int n_meta = quiet ? 0 : tg_safetensors_metadata_count(f);
    char p_text[40], b_text[40];
    if (!quiet)
        printf("\n%d tensors, %s parameters, %s bytes of data\n", count, grouped(params, p_text, sizeof p_text),
               grouped(bytes, b_text, sizeof b_text));
    if (n_meta) printf("\nmetadata:\n");
    for (int i = 0; i < n_meta; i++) {
        const tg_metadata_item *m = tg_safetensors_metadata_at(f, i);
        printf("  ");
        print_escaped(stdout, m->key);
        printf(": ");
        print_escaped(stdout, m->value);
        printf("\n");
    }
    tg_safetensors_close(f);
    return 0;
}
