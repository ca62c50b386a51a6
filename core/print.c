/* PyTorch-like printing: tensor([[ 1.0000, -2.5000], ...], dtype=float64). */
#include <math.h>
#include <string.h>

#include "internal.h"

#define SUMMARY_THRESHOLD 1000
#define EDGE_ITEMS 3

typedef struct {
    char *buf;
    size_t len, n;
    const tg_tensor *t;
    bool summarise, integral, scientific;
    int width;
    int64_t column; /* length of the text's last line so far (not cut at len) */
    bool suffix_wrapped; /* a suffix went on a line of its own */
} printer;

/* PyTorch's print options: 80 columns, 4 digits. */
#define LINE_WIDTH 80

/* Append text of any length, keeping the column of its last line when buf
 * is full. */
static void put_text(printer *p, const char *text)
{
    const char *nl = strrchr(text, '\n');
    size_t n = strlen(text);
    p->column = nl ? (int64_t)strlen(nl + 1) : p->column + (int64_t)n;
    if (p->n >= p->len) return;
    snprintf(p->buf + p->n, p->len - p->n, "%s", text);
    p->n += n;
    if (p->n >= p->len) p->n = p->len - 1;
}

static void put(printer *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(printer *p, const char *fmt, ...)
{
    /* Every piece formatted here is short (a value, a bracket, a line break
     * and its indent); text of any length goes through put_text. */
    char piece[256];
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(piece, sizeof piece, fmt, ap);
    va_end(ap);
    if (k > 0) put_text(p, piece);
}

/* One of tensor('s suffixes (size=..., dtype=..., requires_grad=True,
 * grad_fn=<op> with a user's op name of any length), head, body and tail
 * one after the other, on the last line when it fits in LINE_WIDTH as
 * torch's _add_suffixes reckons, else on a line of its own under the data. */
static void put_suffix(printer *p, const char *head, const char *body, const char *tail)
{
    const int64_t indent = 7; /* strlen("tensor(") */
    /* torch counts 2 columns more than the line holds until a suffix has
     * wrapped (then it counts the new line exactly). */
    const int64_t room = p->suffix_wrapped ? 0 : 2;
    const int64_t length = (int64_t)(strlen(head) + strlen(body) + strlen(tail));
    if (p->column + room + length + 2 > LINE_WIDTH) {
        put(p, ",\n%*s", (int)indent, "");
        p->suffix_wrapped = true;
    } else {
        put_text(p, ", ");
    }
    put_text(p, head);
    put_text(p, body);
    put_text(p, tail);
}

/* The element at p (int64 values are printed from the integer itself: as a
 * double, INT64_MAX would round past the range), as PyTorch's _Formatter
 * formats it before padding. */
static void format_value(printer *p, const char *at, char *out, size_t len)
{
    double v = tg__load(at, p->t->dtype);
    if (p->t->dtype == TG_I64) snprintf(out, len, "%lld", (long long)*(const int64_t *)at);
    else if (isnan(v)) snprintf(out, len, "nan");
    else if (isinf(v)) snprintf(out, len, v > 0 ? "inf" : "-inf");
    else if (p->scientific) snprintf(out, len, "%.4e", v);
    else if (p->integral) snprintf(out, len, "%.0f.", v);
    else snprintf(out, len, "%.4f", v);
}

/* Sub-tensor `offset` of dims [dim, ndim), its text starting at column
 * `indent`: PyTorch's _tensor_str_with_formatter. The last dim runs as
 * many elements to a line as fit in LINE_WIDTH (a summary's " ..." is one
 * of them); the others put each sub-tensor (or "...") on lines of its
 * own, a blank line more per dim below. */
static void print_dim(printer *p, int dim, int64_t offset, int indent)
{
    const tg_tensor *t = p->t;
    char v[64];
    if (dim == t->ndim) {
        format_value(p, (char *)t->storage->data + offset * (int64_t)tg_dtype_size(t->dtype), v, sizeof v);
        put(p, "%*s", p->width, v);
        return;
    }
    bool last = dim == t->ndim - 1;
    int64_t size = t->shape[dim], per_line = (LINE_WIDTH - indent) / (p->width + 2);
    if (per_line < 1) per_line = 1;
    bool skip = p->summarise && size > 2 * EDGE_ITEMS;
    int64_t shown = skip ? 2 * EDGE_ITEMS + 1 : size; /* the "..." counts as one */
    put(p, "[");
    for (int64_t k = 0; k < shown; k++) {
        if (k > 0) {
            if (!last) put(p, ",%.*s%*s", t->ndim - dim - 1, "\n\n\n\n\n\n\n\n", indent + 1, "");
            else if (k % per_line == 0) put(p, ",\n%*s", indent + 1, "");
            else put(p, ", ");
        }
        if (skip && k == EDGE_ITEMS) {
            put(p, last ? " ..." : "...");
            continue;
        }
        int64_t i = skip && k > EDGE_ITEMS ? size - (2 * EDGE_ITEMS + 1 - k) : k;
        print_dim(p, dim + 1, offset + i * t->stride[dim], indent + 1);
    }
    put(p, "]");
}

char *tg_repr(const tg_tensor *t, char *buf, size_t len)
{
    if (!buf || len == 0) return buf;
    buf[0] = '\0';
    if (!tg__check("tg_repr", t)) {
        snprintf(buf, len, "tensor(<invalid>)");
        return buf;
    }
    int64_t numel = tg_numel(t);
    printer p = {.buf = buf, .len = len, .t = t, .summarise = numel > SUMMARY_THRESHOLD};
    /* The format and the common width come from the values printed, as
     * PyTorch takes them from the summarised data: a summarised tensor's
     * first and last EDGE_ITEMS along each long dim (at most 6^8 values,
     * where a broadcast view may have 2^60 elements). For floats, as its
     * _Formatter: from the nonzero finite values alone, integers printed
     * as "3." unless the largest is over 1e8 or 1000 times the smallest,
     * others with 4 decimals unless the smallest is also under 1e-4, in
     * which cases with 4 digits in scientific notation. */
    int64_t count[TG_MAX_DIMS], shown = numel ? 1 : 0;
    for (int d = 0; d < t->ndim; d++) {
        count[d] = p.summarise && t->shape[d] > 2 * EDGE_ITEMS ? 2 * EDGE_ITEMS : t->shape[d];
        shown *= count[d];
    }
    bool is_int = t->dtype == TG_I64;
    double amax = 0, amin = INFINITY;
    p.integral = !is_int;
    p.width = 1;
    for (int pass = 0; pass < 2; pass++) {
        int64_t idx[TG_MAX_DIMS] = {0};
        for (int64_t k = 0; k < shown; k++) {
            int64_t off = t->offset;
            for (int d = 0; d < t->ndim; d++) {
                int64_t i = count[d] < t->shape[d] && idx[d] >= EDGE_ITEMS ? t->shape[d] - 2 * EDGE_ITEMS + idx[d] : idx[d];
                off += i * t->stride[d];
            }
            const char *at = (const char *)t->storage->data + off * (int64_t)tg_dtype_size(t->dtype);
            double v = tg__load(at, t->dtype);
            bool counted = is_int || (isfinite(v) && v != 0);
            if (pass == 0 && counted) {
                if (fabs(v) > amax) amax = fabs(v);
                if (fabs(v) < amin) amin = fabs(v);
                if (v != floor(v)) p.integral = false;
            } else if (pass == 1 && counted) {
                char s[64];
                format_value(&p, at, s, sizeof s);
                if ((int)strlen(s) > p.width) p.width = (int)strlen(s);
            }
            for (int d = t->ndim - 1; d >= 0 && ++idx[d] == count[d]; d--) idx[d] = 0;
        }
        if (pass == 0 && !is_int && amax > 0)
            p.scientific = amax / amin > 1000.0 || amax > 1e8 || (!p.integral && amin < 1e-4);
    }
    put(&p, "tensor(");
    if (numel == 0) put(&p, "[]");
    else print_dim(&p, 0, t->offset, 7);
    char suffix[200];
    if (numel == 0 && t->ndim > 1) {
        int k = snprintf(suffix, sizeof suffix, "size=(");
        for (int d = 0; d < t->ndim; d++)
            k += snprintf(suffix + k, sizeof suffix - (size_t)k, d ? ", %lld" : "%lld", (long long)t->shape[d]);
        snprintf(suffix + k, sizeof suffix - (size_t)k, ")");
        put_suffix(&p, suffix, "", "");
    }
    if (t->dtype == TG_F64) put_suffix(&p, "dtype=torch.float64", "", "");
    /* int64 shows in its values' format; with no values the suffix names it, as torch's. */
    else if (t->dtype == TG_I64 && numel == 0) put_suffix(&p, "dtype=torch.int64", "", "");
    if (t->requires_grad && t->node) put_suffix(&p, "grad_fn=<", t->node->op, ">");
    else if (t->requires_grad) put_suffix(&p, "requires_grad=True", "", "");
    put(&p, ")");
    return buf;
}

void tg_print(const tg_tensor *t)
{
    static _Thread_local char buf[65536];
    puts(tg_repr(t, buf, sizeof buf));
}
