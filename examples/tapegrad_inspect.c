/* tapegrad-inspect: what a safetensors file holds, as safetensors and
 * transformers users expect to see it: each tensor's name, dtype and shape,
 * the total parameter count, and the metadata. Reads only the header (every
 * part of it checked), never the data, so it is instant on any size.
 *
 *     tapegrad-inspect FILE
 *
 * Exits 1 with the reason (file, tensor, byte offset) if the file is not a
 * valid safetensors file, 2 on a usage error. */
#include <stdio.h>
#include <string.h>

#include <tapegrad/safetensors.h>

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

/* Metadata values may hold any character: print control characters escaped,
 * so that a file cannot drive the terminal. */
static void print_escaped(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '\n')
            fputs("\\n", stdout);
        else if (*p == '\t')
            fputs("\\t", stdout);
        else if (*p < 0x20 || *p == 0x7F)
            printf("\\x%02x", *p);
        else
            putchar(*p);
    }
}

int main(int argc, char **argv)
{
    if (argc != 2 || argv[1][0] == '-') {
        fprintf(stderr,
                "usage: %s FILE\n  print the tensors (name, dtype, shape), parameter count and metadata of a "
                "safetensors file\n",
                argv[0]);
        return 2;
    }
    tg_safetensors *f = tg_safetensors_open(argv[1]);
    if (!f) {
        fprintf(stderr, "%s: %s\n", argv[0], tg_last_error());
        return 1;
    }
    int count = tg_safetensors_count(f), width = 4;
    for (int i = 0; i < count; i++) {
        int len = (int)strlen(tg_safetensors_entry_at(f, i)->name);
        width = len > width ? len : width;
    }
    width = width > 60 ? 60 : width;
    int64_t params = 0, bytes = 0;
    printf("%-*s  %-7s  %s\n", width, "name", "dtype", "shape");
    for (int i = 0; i < count; i++) {
        const tg_safetensors_entry *e = tg_safetensors_entry_at(f, i);
        printf("%-*s  %-7s  [", width, e->name, e->dtype);
        for (int d = 0; d < e->ndim; d++) printf(d ? ", %lld" : "%lld", (long long)e->shape[d]);
        printf("]\n");
        params += e->numel;
        bytes += e->nbytes;
    }
    char p_text[40], b_text[40];
    printf("\n%d tensors, %s parameters, %s bytes of data\n", count, grouped(params, p_text, sizeof p_text),
           grouped(bytes, b_text, sizeof b_text));
    int n_meta = tg_safetensors_metadata_count(f);
    if (n_meta) printf("\nmetadata:\n");
    for (int i = 0; i < n_meta; i++) {
        const tg_metadata_item *m = tg_safetensors_metadata_at(f, i);
        printf("  ");
        print_escaped(m->key);
        printf(": ");
        print_escaped(m->value);
        printf("\n");
    }
    tg_safetensors_close(f);
    return 0;
}
