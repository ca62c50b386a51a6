/* A character-level language model on Debian's fortune cookies.
 *
 *     bytes -> Embedding(V, 64) -> LSTM(64, 192, 2 layers, layer norm) -> Linear(192, V)
 *
 * trained to predict the next byte with truncated back-propagation through
 * time: the training text is cut into B parallel streams (64) read in
 * chunks of T bytes (25); the state at the end of a chunk starts the next
 * one, carried across detached (tg_keep), so each backward stops at the
 * chunk boundary while the model still sees a long context. Each epoch
 * lays the training fortunes out in a new order and starts the streams at
 * other places in their stretches of the text, so that the chunks and
 * batches differ from epoch to epoch: with the same chunks every epoch the
 * model learnt them by heart sooner (2.016 bits after the default budget,
 * against 1.998 to 2.002 in four runs with new chunks, the worst on a
 * machine busy with other work). Adam, with the learning rate decayed
 * from 0.006 to 0.0002 along half a cosine over the run and moments that
 * forget faster than with torch's defaults (betas 0.8 and 0.99, not 0.9 and
 * 0.999: 2.090 bits after two epochs against 2.114; 0.9 and 0.99 gave
 * 2.102), gradient clipping, and the held-out loss in bits per character
 * after every epoch and every two minutes of training (log2 of the
 * vocabulary, about 6.8, is a model that knows nothing). The LSTM is the library's
 * layer-normalised one (tg_rnn_config.layer_norm: each gate block normalised
 * before the bias), which learns this text markedly faster per update than
 * the plain one (--no-layer-norm). Then it writes text, one byte at a time,
 * each drawn from the model's distribution sharpened by a temperature:
 *
 *     sudo apt-get install fortunes
 *     charlm [--epochs N] [--time SECONDS] [--sample N] [--temperature 0.8] [--prime "Q: "]
 *
 * By default it trains for 560 s (--time 560, evaluations not counted)
 * or 10 epochs, whichever ends first. In a budget this short the loss
 * follows the computing time more than the settings: the learning rate
 * (0.005 or 0.01) hardly mattered, and 256 units did as well as 192 after
 * the same time, taking 1.5 times as long per byte. So the defaults do the
 * most with each second: 192 units, short chunks (twice the updates of
 * 50-byte chunks for the same work, a little better), 64 streams (on two
 * threads, 1.3 times as many bytes a second as 32) and a decay that ends
 * with the budget (better than a constant rate). Dropout between the
 * layers (--dropout 0.2) closes part of the gap between the training and
 * the held-out loss but ends worse after the same time (2.040 bits against
 * 2.018; with the betas above, --dropout 0.1 ended at 1.998, against
 * 1.995 without), so it is off by default.
 *
 * The corpus is every plain file in /usr/share/games/fortunes (or --data,
 * a file or a directory), fortunes separated by lines holding "%"; every
 * 20th fortune is held out. bench/charlm_torch.py is the same model, data
 * and split in PyTorch. On a shared machine --cpu-clock makes --time and the
 * per-epoch times count this process's CPU seconds (with one thread, what
 * the wall clock would say on an idle machine). */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <tapegrad/tapegrad.h>

#include "args.h"
#include "progress.h"
#include "svgplot.h"

#define HELD_OUT_EVERY 20 /* fortune k is held out when k % 20 == 19 */
#define EVAL_STREAMS 32
#define CURVE_POINTS 20   /* training-loss points per epoch in the plot */

typedef struct {
    char *data; /* train: the training text, then the held-out text */
    size_t train, held_out;
    char *original;            /* the training text in the sources' order */
    size_t fortunes, *starts;  /* the training fortunes, where each starts in it */
    size_t *order;             /* scratch for shuffle_fortunes */
    int vocab;
    unsigned char byte_of[256]; /* index -> byte */
    int index_of[256];          /* byte -> index, -1 when absent */
} corpus;

/* --- the corpus --------------------------------------------------------------- */

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Append the whole file at path to *buf (size *len, capacity *cap), ending
 * it with a line "%" so that no fortune runs on into the next file. */
static bool slurp(const char *path, char **buf, size_t *len, size_t *cap)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "charlm: cannot read %s: %s\n", path, strerror(errno));
        return false;
    }
    for (size_t got = 1; got > 0;) {
        if (*cap - *len < 65536) {
            char *bigger = realloc(*buf, *cap = *cap * 2 + 65536);
            if (!bigger) {
                fclose(f);
                return false;
            }
            *buf = bigger;
        }
        got = fread(*buf + *len, 1, *cap - *len, f);
        *len += got;
    }
    fclose(f);
    if (*len > 0 && (*buf)[*len - 1] != '\n') (*buf)[(*len)++] = '\n';
    memcpy(*buf + *len, "%\n", 2); /* the loop left at least 65536 bytes free */
    *len += 2;
    return true;
}

/* The text of every plain file under path (a file, or a directory's files
 * whose names hold no '.', in name order: Debian's fortunes without their
 * .dat indexes and .u8 links), or NULL with a message. */
static char *read_sources(const char *path, size_t *len)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        fprintf(stderr,
                "charlm: no corpus at %s (%s).\n"
                "Install Debian's fortune cookies with `sudo apt-get install fortunes`, or pass --data FILE|DIR.\n",
                path, strerror(errno));
        return NULL;
    }
    size_t cap = 0;
    char *buf = NULL;
    *len = 0;
    /* A device (/dev/zero, /dev/urandom) would be read for ever; a pipe
     * (--data <(zcat corpus.gz)) ends. */
    if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode) && !S_ISFIFO(st.st_mode)) {
        fprintf(stderr, "charlm: --data %s is neither a file nor a directory\n", path);
        return NULL;
    }
    if (!S_ISDIR(st.st_mode)) return slurp(path, &buf, len, &cap) ? buf : (free(buf), NULL);
    DIR *dir = opendir(path);
    if (!dir) {
        fprintf(stderr, "charlm: cannot list %s: %s\n", path, strerror(errno));
        return NULL;
    }
    char **names = NULL;
    size_t n = 0;
    for (struct dirent *e; (e = readdir(dir));) {
        char full[4096];
        snprintf(full, sizeof full, "%s/%s", path, e->d_name);
        if (strchr(e->d_name, '.') || lstat(full, &st) != 0 || !S_ISREG(st.st_mode)) continue;
        char **more = realloc(names, sizeof *names * (n + 1));
        if (!more || !(more[n] = strdup(full))) break;
        names = more;
        n++;
    }
    closedir(dir);
    if (n) qsort(names, n, sizeof *names, by_name);
    bool ok = n > 0;
    if (!ok) fprintf(stderr, "charlm: %s holds no fortune files (install the package `fortunes`)\n", path);
    for (size_t i = 0; i < n; i++) {
        ok = ok && slurp(names[i], &buf, len, &cap);
        free(names[i]);
    }
    free(names);
    return ok ? buf : (free(buf), NULL);
}

/* Append fortune number k (its lines, then "%\n") to the held-out text if
 * k % HELD_OUT_EVERY == HELD_OUT_EVERY - 1, else to the training text. */
static void put_fortune(size_t k, const char *text, size_t len, char *train, size_t *nt, char *held, size_t *nh)
{
    bool out = k % HELD_OUT_EVERY == HELD_OUT_EVERY - 1;
    char *to = out ? held + *nh : train + *nt;
    memcpy(to, text, len);
    memcpy(to + len, "%\n", 2);
    *(out ? nh : nt) += len + 2;
}

/* Split the sources into fortunes at lines holding only "%", and lay them
 * out as the training text followed by the held-out text. */
static bool load_corpus(const char *path, corpus *c)
{
    size_t len;
    char *src = read_sources(path, &len);
    if (!src) return false;
    /* Every line of the sources ends with '\n' and every fortune with "%\n":
     * the texts are never longer than the sources. */
    char *train = malloc(len), *held = malloc(len), *record = malloc(len);
    size_t nt = 0, nh = 0, fortunes = 0, record_len = 0;
    for (size_t p = 0, end; p < len; p = end + 1) {
        for (end = p; end < len && src[end] != '\n';) end++;
        if (end - p == 1 && src[p] == '%') {
            if (record_len > 0) put_fortune(fortunes++, record, record_len, train, &nt, held, &nh);
            record_len = 0;
        } else {
            memcpy(record + record_len, src + p, end - p);
            record_len += end - p;
            record[record_len++] = '\n';
        }
    }
    free(src);
    free(record);
    c->data = malloc(nt + nh + 1);
    memcpy(c->data, train, nt);
    memcpy(c->data + nt, held, nh);
    free(train);
    free(held);
    c->train = nt;
    c->held_out = nh;
    bool present[256] = {false};
    for (size_t i = 0; i < nt + nh; i++) present[(unsigned char)c->data[i]] = true;
    c->vocab = 0;
    for (int b = 0; b < 256; b++) {
        c->index_of[b] = present[b] ? c->vocab : -1;
        if (present[b]) c->byte_of[c->vocab++] = (unsigned char)b;
    }
    if (fortunes < HELD_OUT_EVERY) {
        fprintf(stderr, "charlm: %s holds %zu fortunes; at least %d are needed to hold some out\n", path, fortunes,
                HELD_OUT_EVERY);
        free(c->data);
        c->data = NULL;
        return false;
    }
    /* A training fortune starts the text or follows a line "%". */
    c->fortunes = 0;
    c->starts = malloc(fortunes * sizeof *c->starts);
    c->order = malloc(fortunes * sizeof *c->order);
    c->original = malloc(nt);
    memcpy(c->original, c->data, nt);
    for (size_t i = 0; i < nt; i++)
        if (i == 0 || (i >= 3 && c->data[i - 3] == '\n' && c->data[i - 2] == '%' && c->data[i - 1] == '\n'))
            c->starts[c->fortunes++] = i;
    return true;
}

static void free_corpus(corpus *c)
{
    free(c->data);
    free(c->original);
    free(c->starts);
    free(c->order);
}

/* Lay the training fortunes out again in an order drawn from (seed, epoch),
 * so that the model cannot learn which fortune follows which: nothing in
 * the held-out text rewards that. Fisher-Yates with a 64-bit LCG, as in
 * bench/charlm_torch.py. */
static void shuffle_fortunes(corpus *c, uint64_t seed, int epoch)
{
    size_t n = c->fortunes, at = 0;
    if (n < 2) return;
    for (size_t i = 0; i < n; i++) c->order[i] = i;
    uint64_t r = seed * 1000003u + (uint64_t)epoch;
    for (size_t i = n - 1; i > 0; i--) {
        r = r * 6364136223846793005u + 1442695040888963407u;
        size_t j = (size_t)((r >> 33) % (i + 1)), t = c->order[i];
        c->order[i] = c->order[j];
        c->order[j] = t;
    }
    for (size_t i = 0; i < n; i++) {
        size_t k = c->order[i], len = (k + 1 < n ? c->starts[k + 1] : c->train) - c->starts[k];
        memcpy(c->data + at, c->original + c->starts[k], len);
        at += len;
    }
}

/* --- the model ------------------------------------------------------------------ */

typedef struct {
    tg_embedding_layer *embed;
    tg_rnn *rnn;
    tg_linear_layer *head;
    tg_params params;
} model;

typedef struct {
    tg_tensor *h, *c; /* persistent (L, B, H) carries, or NULL for zeros */
} state;

static void state_clear(state *s)
{
    tg_free(s->h);
    tg_free(s->c);
    s->h = s->c = NULL;
}

/* bytes (T, B) as I64 indices -> logits (T, B, V), starting from state `in`;
 * the final state goes into *out as detached persistent copies. The graph
 * reads `in`: free it only after backward (state_carry). */
static tg_tensor *forward(model *m, tg_tensor *bytes, const state *in, state *out)
{
    tg_rnn_output r;
    tg_tensor *init[2] = {in->h, in->c};
    if (tg_rnn_forward(m->rnn, tg_embedding_layer_forward(m->embed, bytes), m->rnn->n_states, init, NULL, &r) < 0)
        return NULL;
    out->h = tg_keep(r.h_n);
    out->c = r.c_n ? tg_keep(r.c_n) : NULL;
    return tg_linear_layer_forward(m->head, r.output);
}

/* The next chunk starts where this one ended. */
static void state_carry(state *carry, state *next)
{
    state_clear(carry);
    *carry = *next;
    *next = (state){NULL, NULL};
}

/* Chunk `k` of `streams` parallel streams of the text [first, first + n):
 * inputs (T, B) and the next bytes as targets (T*B), in the current scope.
 * Stream b reads its own stretch of the text, (n - 1) / B bytes from
 * first + b * (n - 1) / B, round from an offset that `shift` (the epoch
 * less one while training, 0 for the held-out text) moves: each epoch cuts
 * the text into chunks at other places and batches other stretches
 * together, so the model does not see the same batches every epoch.
 * A target is always the byte that follows its input in the text. */
static void chunk(const corpus *c, size_t first, size_t n, int64_t streams, int64_t T, int64_t k, int shift,
                  tg_tensor **x, tg_tensor **y)
{
    *x = tg_empty(TG_I64, 2, (int64_t[]){T, streams});
    *y = tg_empty(TG_I64, 1, (int64_t[]){T * streams});
    int64_t *xs = tg_data(*x), *ys = tg_data(*y);
    size_t stream_len = (n - 1) / (size_t)streams;
    for (int64_t b = 0; b < streams; b++) {
        size_t offset = (size_t)((uint64_t)shift * (uint64_t)(b + 1) * 2654435761u % stream_len);
        for (int64_t t = 0; t < T; t++) {
            size_t at = first + (size_t)b * stream_len + (offset + (size_t)(k * T + t)) % stream_len;
            xs[t * streams + b] = c->index_of[(unsigned char)c->data[at]];
            ys[t * streams + b] = c->index_of[(unsigned char)c->data[at + 1]];
        }
    }
}

/* Mean cross-entropy of the held-out text in bits per character. */
static double held_out_bits(model *m, const corpus *c, int64_t T)
{
    int64_t streams = EVAL_STREAMS, chunks = (int64_t)((c->held_out - 1) / (size_t)streams) / T;
    state carry = {NULL, NULL};
    double nats = 0;
    bool was = tg_no_grad_begin();
    tg_rnn_train(m->rnn, false);
    for (int64_t k = 0; k < chunks; k++) {
        tg_scope *s = tg_scope_begin();
        tg_tensor *x, *y;
        chunk(c, c->train, c->held_out, streams, T, k, 0, &x, &y);
        state next = {NULL, NULL};
        tg_tensor *logits = forward(m, x, &carry, &next);
        nats += tg_item(tg_cross_entropy(tg_view(logits, 2, (int64_t[]){-1, c->vocab}), y, NULL));
        tg_scope_end(s);
        state_carry(&carry, &next);
    }
    tg_rnn_train(m->rnn, true);
    tg_no_grad_end(was);
    state_clear(&carry);
    return chunks > 0 ? nats / (double)chunks / log(2.0) : NAN;
}

/* Feed byte index `index` to the model and write the distribution of the
 * next byte, softmax(logits / temperature), into p (V entries). */
static void next_byte_probs(model *m, int vocab, int64_t index, state *carry, double temperature, double *p)
{
    tg_scope *s = tg_scope_begin();
    state next = {NULL, NULL};
    tg_tensor *logits = forward(m, tg_from_array(TG_I64, 2, (int64_t[]){1, 1}, &index), carry, &next);
    tg_tensor *probs = tg_softmax(tg_div_scalar(tg_view(logits, 1, (int64_t[]){vocab}), temperature), 0);
    if (tg_copy_to_array(tg_cast(probs, TG_F64), p) < 0)
        for (int v = 0; v < vocab; v++) p[v] = 1.0 / vocab;
    tg_scope_end(s);
    state_carry(carry, &next);
}

/* Print `prime`, then n bytes drawn one at a time from the model. */
static void sample(model *m, const corpus *c, const char *prime, int64_t n, double temperature)
{
    state carry = {NULL, NULL};
    bool was = tg_no_grad_begin();
    tg_rnn_train(m->rnn, false);
    double *p = malloc(sizeof(double) * (size_t)c->vocab);
    fputs(prime, stdout);
    /* Read the prompt (bytes the corpus never has are skipped); with none,
     * start as after a line break. */
    int64_t read = 0;
    for (const char *q = prime; *q; q++)
        if (c->index_of[(unsigned char)*q] >= 0) {
            next_byte_probs(m, c->vocab, c->index_of[(unsigned char)*q], &carry, temperature, p);
            read++;
        }
    if (read == 0) next_byte_probs(m, c->vocab, c->index_of['\n'] >= 0 ? c->index_of['\n'] : 0, &carry, temperature, p);
    for (int64_t i = 0; i < n; i++) {
        double u = tg_rand_uniform(), total = 0;
        int next = c->vocab - 1;
        for (int v = 0; v < c->vocab; v++)
            if ((total += p[v]) > u) {
                next = v;
                break;
            }
        putchar(c->byte_of[next]);
        if (i + 1 < n) next_byte_probs(m, c->vocab, next, &carry, temperature, p);
    }
    putchar('\n');
    fflush(stdout);
    free(p);
    state_clear(&carry);
    tg_rnn_train(m->rnn, true);
    tg_no_grad_end(was);
}

/* --- training ------------------------------------------------------------------ */

typedef struct {
    double *x, *y;
    int n, cap;
} curve;

/* Append the point (x, y) to the plot's curve (out of memory, the picture
 * misses it: not worth stopping the training for). */
static void curve_add(curve *c, double x, double y)
{
    if (c->n == c->cap) {
        int cap = c->cap * 2 + 16;
        double *xs = realloc(c->x, sizeof(double) * (size_t)cap);
        if (xs) c->x = xs;
        double *ys = xs ? realloc(c->y, sizeof(double) * (size_t)cap) : NULL;
        if (!ys) return;
        c->y = ys;
        c->cap = cap;
    }
    c->x[c->n] = x;
    c->y[c->n++] = y;
}

/* The learning rate when the fraction `done` of the run is behind: from lr
 * down to lr_min along half a cosine (torch's CosineAnnealingLR over the
 * run), so that the last updates, made with small steps, settle the model. */
static double cosine_lr(double lr, double lr_min, double done)
{
    return lr_min + (lr - lr_min) * 0.5 * (1 + cos(3.141592653589793 * fmin(done, 1.0)));
}

/* The held-out loss between epochs, on a line of its own amid the epoch's
 * progress (on a terminal, over the progress line, which redraws itself
 * below it). */
static void held_out_line(const progress *bar, double seconds, double bits)
{
    if (bar->quiet) return;
    printf("%s  %.0f s: held-out %.3f bits/char\n", bar->tty ? "\r\033[K" : "", seconds, bits);
    fflush(stdout);
}

/* Seconds of CPU time this process has used (--cpu-clock): on a shared
 * machine, a fairer clock for a one-thread run than the wall. */
static double cpu_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static tg_rnn *recurrent_layer(const char *cell, int64_t input, int64_t hidden, int layers, bool layer_norm,
                               double dropout)
{
    tg_rnn_config config = {.input_size = input, .hidden_size = hidden, .num_layers = layers, .dropout = dropout,
                            .layer_norm = layer_norm && strcmp(cell, "rnn") != 0}; /* none for Elman */
    if (strcmp(cell, "lstm") == 0) return tg_lstm_new(&config);
    if (strcmp(cell, "gru") == 0) return tg_gru_new(&config);
    return tg_rnn_new(&tg_cell_rnn_tanh, &config);
}

static void usage(FILE *to, const char *argv0)
{
    fprintf(to,
            "usage: %s [--data FILE|DIR] [--cell lstm|gru|rnn] [--embed E] [--hidden H] [--layers L]\n"
            "          [--no-layer-norm] [--dropout P] [--weight-decay WD] [--seq T] [--batch B] [--lr LR]\n"
            "          [--lr-min LR] [--beta1 B1] [--beta2 B2] [--clip NORM]\n"
            "          [--epochs N] [--time SECONDS] [--cpu-clock] [--eval-every SECONDS]\n"
            "          [--sample N] [--temperature X] [--prime TEXT] [--seed S] [--plot FILE] [--quiet]\n"
            "          [--save FILE] [--load FILE]\n"
            "Trains a character-level language model (embedding, recurrent layers, linear head) on\n"
            "Debian's fortune cookies with truncated back-propagation through time, prints the\n"
            "held-out loss in bits per character after every epoch, then samples text.\n"
            "Defaults: --data /usr/share/games/fortunes (package fortunes) --cell lstm --embed 64\n"
            "--hidden 192 --layers 2 --dropout 0 --weight-decay 0 --seq 25 --batch 64 --lr 0.006\n"
            "--lr-min 0.0002 --beta1 0.8 --beta2 0.99 --clip 1 --epochs 10 --time 560 --eval-every 120\n"
            "--sample 600 --temperature 0.8 --prime \"Q: \"; the LSTM is layer-normalised unless --no-layer-norm;\n"
            "--dropout P drops between the recurrent layers while training; --weight-decay WD makes the\n"
            "optimizer AdamW with that decay on the matrices (not the biases and gains; default 0: Adam);\n"
            "--beta1 and --beta2 are Adam's decays of its moments (torch's defaults: 0.9, 0.999). The\n"
            "learning rate falls from --lr to --lr-min along half a cosine over the run (the time budget\n"
            "or the epochs, whichever ends first; --lr-min equal to --lr keeps it constant). --time stops\n"
            "training after that many seconds (of CPU time with --cpu-clock; evaluations not counted; 0\n"
            "for no limit): the defaults train for 560 s.\n"
            "--eval-every also prints the held-out loss after every that many seconds of training\n"
            "(0: after each epoch only).\n"
            "--plot writes the training and held-out loss curves as SVG. --save writes the trained model\n"
            "(safetensors: its parameters and vocabulary); --load starts from a saved one (with --epochs 0\n"
            "it only samples).\n"
            "Ranges: --embed, --hidden 1..4096, --layers 1..16, --seq 1..10000, --batch 1..4096, --lr in\n"
            "(0, 10], --lr-min in [0, lr], --dropout, --beta1, --beta2 in [0, 1), --weight-decay in [0, 1],\n"
            "--clip in (0, 1e6], --epochs 0..1000000, --time, --eval-every in [0, 1e9], --sample\n"
            "0..100000000, --temperature in (0, 100].\n",
            argv0);
}

int main(int argc, char **argv)
{
    const char *data = "/usr/share/games/fortunes", *cell = "lstm", *prime = "Q: ", *plot = NULL, *save = NULL,
               *load = NULL;
    int64_t embed = 64, hidden = 192, T = 25, B = 64, n_sample = 600;
    int layers = 2, epochs = 10;
    double lr = 0.006, lr_min = 0.0002, clip = 1.0, time_limit = 560, eval_every = 120, temperature = 0.8,
           dropout = 0, weight_decay = 0, beta1 = 0.8, beta2 = 0.99;
    uint64_t seed = 1;
    bool quiet = false, layer_norm = true;
    double (*now)(void) = progress_now; /* the clock of --time and the per-epoch times */
    const char *prog = "charlm";
    for (int i = 1; i < argc; i++) {
        bool ok = true;
        if (strcmp(argv[i], "--data") == 0) ok = arg_text(prog, argc, argv, &i, &data);
        else if (strcmp(argv[i], "--no-layer-norm") == 0) layer_norm = false;
        else if (strcmp(argv[i], "--cpu-clock") == 0) now = cpu_seconds;
        else if (strcmp(argv[i], "--cell") == 0) ok = arg_text(prog, argc, argv, &i, &cell);
        else if (strcmp(argv[i], "--embed") == 0) ok = arg_int64(prog, argc, argv, &i, 1, 4096, &embed);
        else if (strcmp(argv[i], "--hidden") == 0) ok = arg_int64(prog, argc, argv, &i, 1, 4096, &hidden);
        else if (strcmp(argv[i], "--layers") == 0) ok = arg_int(prog, argc, argv, &i, 1, 16, &layers);
        else if (strcmp(argv[i], "--seq") == 0) ok = arg_int64(prog, argc, argv, &i, 1, 10000, &T);
        else if (strcmp(argv[i], "--batch") == 0) ok = arg_int64(prog, argc, argv, &i, 1, 4096, &B);
        else if (strcmp(argv[i], "--lr") == 0) ok = arg_real(prog, argc, argv, &i, "(0, 10]", &lr);
        else if (strcmp(argv[i], "--lr-min") == 0) ok = arg_real(prog, argc, argv, &i, "[0, 10]", &lr_min);
        else if (strcmp(argv[i], "--eval-every") == 0) ok = arg_real(prog, argc, argv, &i, "[0, 1e9]", &eval_every);
        else if (strcmp(argv[i], "--dropout") == 0) ok = arg_real(prog, argc, argv, &i, "[0, 1)", &dropout);
        else if (strcmp(argv[i], "--weight-decay") == 0) ok = arg_real(prog, argc, argv, &i, "[0, 1]", &weight_decay);
        else if (strcmp(argv[i], "--beta1") == 0) ok = arg_real(prog, argc, argv, &i, "[0, 1)", &beta1);
        else if (strcmp(argv[i], "--beta2") == 0) ok = arg_real(prog, argc, argv, &i, "[0, 1)", &beta2);
        else if (strcmp(argv[i], "--clip") == 0) ok = arg_real(prog, argc, argv, &i, "(0, 1e6]", &clip);
        else if (strcmp(argv[i], "--epochs") == 0) ok = arg_int(prog, argc, argv, &i, 0, 1000000, &epochs);
        else if (strcmp(argv[i], "--time") == 0) ok = arg_real(prog, argc, argv, &i, "[0, 1e9]", &time_limit);
        else if (strcmp(argv[i], "--sample") == 0) ok = arg_int64(prog, argc, argv, &i, 0, 100000000, &n_sample);
        else if (strcmp(argv[i], "--temperature") == 0) ok = arg_real(prog, argc, argv, &i, "(0, 100]", &temperature);
        else if (strcmp(argv[i], "--prime") == 0) ok = arg_text(prog, argc, argv, &i, &prime);
        else if (strcmp(argv[i], "--seed") == 0) ok = arg_seed(prog, argc, argv, &i, &seed);
        else if (strcmp(argv[i], "--plot") == 0) ok = arg_text(prog, argc, argv, &i, &plot);
        else if (strcmp(argv[i], "--quiet") == 0) quiet = true;
        else if (strcmp(argv[i], "--save") == 0) ok = arg_text(prog, argc, argv, &i, &save);
        else if (strcmp(argv[i], "--load") == 0) ok = arg_text(prog, argc, argv, &i, &load);
        else return arg_other(prog, argv[i], argv[0], usage);
        if (!ok) return 2;
    }
    if (strcmp(cell, "lstm") != 0 && strcmp(cell, "gru") != 0 && strcmp(cell, "rnn") != 0) {
        fprintf(stderr, "charlm: --cell must be lstm, gru or rnn, not '%s'\n", cell);
        return 2;
    }
    if (lr_min > lr) {
        fprintf(stderr, "charlm: --lr-min must be at most --lr (%g), not %g\n", lr, lr_min);
        return 2;
    }
    tg_manual_seed(seed);
    /* Everything below is freed at done:, whichever exit is taken. */
    int status = 1;
    corpus text = {0};
    model m = {NULL, NULL, NULL, tg_params_new()};
    tg_params entries = tg_params_new();
    tg_tensor *vocab = NULL;
    tg_optim *opt = NULL;
    curve train_curve = {0}, held_curve = {0};
    if (!load_corpus(data, &text)) goto done;
    int64_t chunks = (int64_t)((text.train - 1) / (size_t)B) / T;
    if (chunks < 1 || (int64_t)((text.held_out - 1) / EVAL_STREAMS) < T) {
        fprintf(stderr, "charlm: %s is too small for %lld streams of chunks of %lld bytes\n", data, (long long)B,
                (long long)T);
        goto done;
    }

    m.embed = tg_embedding_layer_new(text.vocab, embed, -1, TG_F32);
    m.rnn = recurrent_layer(cell, embed, hidden, layers, layer_norm, dropout);
    m.head = tg_linear_layer_new(hidden, text.vocab, true, TG_F32);
    if (!m.embed || !m.rnn || !m.head || tg_embedding_layer_params(m.embed, &m.params, "embed") < 0 ||
        tg_rnn_params(m.rnn, &m.params, "rnn") < 0 || tg_linear_layer_params(m.head, &m.params, "head") < 0) {
        fprintf(stderr, "charlm: %s\n", tg_last_error());
        goto done;
    }
    /* A saved model is m.params under their names (embed.weight,
     * rnn.weight_ih_l0, ..., head.bias) and "vocab", the byte each index
     * stands for: a model means nothing without it. A strict load checks the
     * sizes and the cell against the options through the names and shapes. */
    int64_t n_vocab = text.vocab, vocab_bytes[256];
    for (int v = 0; v < text.vocab; v++) vocab_bytes[v] = text.byte_of[v];
    vocab = tg_from_array(TG_I64, 1, &n_vocab, vocab_bytes);
    if (!vocab || tg_params_add(&entries, NULL, "vocab", vocab) < 0 || tg_params_extend(&entries, NULL, &m.params) < 0) {
        fprintf(stderr, "charlm: %s\n", tg_last_error());
        goto done;
    }
    if (load) {
        if (tg_state_load(load, &entries, true, NULL) < 0) {
            fprintf(stderr, "charlm: %s\n", tg_last_error());
            goto done;
        }
        for (int64_t v = 0; v < n_vocab; v++)
            if ((int64_t)tg_get(vocab, &v) != text.byte_of[v]) {
                fprintf(stderr, "charlm: %s was trained on text with another vocabulary than %s\n", load, data);
                goto done;
            }
        if (!quiet) printf("loaded %s\n", load);
    }
    /* Group 1, the matrices, decays (AdamW) with --weight-decay; group 0,
     * the biases and layer-norm gains, never. */
    for (int i = 0; i < m.params.count; i++)
        if (m.params.items[i].tensor->ndim == 2) m.params.items[i].group = 1;
    tg_adam_config adam[2] = {tg_adam_defaults(), tg_adam_defaults()};
    adam[0].lr = adam[1].lr = lr;
    adam[1].weight_decay = weight_decay;
    adam[0].beta1 = adam[1].beta1 = beta1;
    adam[0].beta2 = adam[1].beta2 = beta2;
    opt = tg_adamw(&m.params, 2, adam);
    if (!quiet) {
        printf("%s: %zu training and %zu held-out bytes, %d distinct\n", data, text.train, text.held_out, text.vocab);
        printf("Embedding(%d, %lld) -> %s(%lld, %lld, %d layers%s) -> Linear(%lld, %d): %lld parameters\n",
               text.vocab, (long long)embed, cell, (long long)embed, (long long)hidden, layers,
               layer_norm && strcmp(cell, "rnn") != 0 ? ", layer norm" : "", (long long)hidden, text.vocab,
               (long long)tg_params_numel(&m.params));
        printf("%lld streams, chunks of %lld bytes (%lld per epoch), %s lr %g (cosine to %g), betas %g %g, "
               "clip_grad_norm %g\n",
               (long long)B, (long long)T, (long long)chunks, weight_decay > 0 ? "AdamW" : "Adam", lr, lr_min, beta1, beta2,
               clip);
        if (weight_decay > 0) printf("weight decay %g on the matrices\n", weight_decay);
        fflush(stdout);
    }

    int every = chunks / CURVE_POINTS > 0 ? (int)(chunks / CURVE_POINTS) : 1;
    progress bar = progress_new(quiet, "char");
    double trained = 0, bits = NAN; /* seconds of training, evaluations left out */
    double next_eval = eval_every;
    int64_t chunks_done = 0;
    bool out_of_time = false;
    for (int epoch = 1; epoch <= epochs && !out_of_time; epoch++) {
        state carry = {NULL, NULL};
        double recent = 0;
        shuffle_fortunes(&text, seed, epoch);
        progress_begin(&bar, epoch, epochs, chunks);
        double epoch_start = now();
        int64_t k = 0;
        for (; k < chunks && !out_of_time; k++) {
            /* The run's fraction done is that of the time limit or of the
             * epochs, whichever is further along: it ends at lr_min either
             * way. */
            double done = (double)(chunks_done + k) / ((double)chunks * epochs);
            if (time_limit > 0) done = fmax(done, (trained + now() - epoch_start) / time_limit);
            double rate = cosine_lr(lr, lr_min, done);
            if (tg_optim_set_lr(opt, 0, rate) < 0 || tg_optim_set_lr(opt, 1, rate) < 0) {
                fprintf(stderr, "charlm: %s\n", tg_last_error());
                state_clear(&carry);
                goto done;
            }
            tg_scope *s = tg_scope_begin();
            tg_tensor *x, *y;
            chunk(&text, 0, text.train, B, T, k, epoch - 1, &x, &y);
            state next = {NULL, NULL};
            tg_tensor *logits = forward(&m, x, &carry, &next);
            tg_tensor *loss = tg_cross_entropy(tg_view(logits, 2, (int64_t[]){-1, text.vocab}), y, NULL);
            tg_optim_zero_grad(opt);
            if (!loss || tg_backward(loss, NULL) < 0 || tg_clip_grad_norm(&m.params, clip, 2.0, NULL) < 0 ||
                tg_optim_step(opt) < 0) {
                fprintf(stderr, "charlm: %s\n", tg_last_error());
                tg_scope_end(s);
                state_clear(&next);
                state_clear(&carry);
                goto done;
            }
            double chunk_bits = tg_item(loss) / log(2.0);
            tg_scope_end(s);
            state_carry(&carry, &next);
            progress_step(&bar, B * T, chunk_bits);
            recent += chunk_bits;
            if ((k + 1) % every == 0) {
                curve_add(&train_curve, epoch - 1 + (double)(k + 1) / (double)chunks, recent / every);
                recent = 0;
            }
            double elapsed = trained + now() - epoch_start;
            out_of_time = time_limit > 0 && elapsed > time_limit;
            if (eval_every > 0 && elapsed >= next_eval && !out_of_time && k + 1 < chunks) {
                /* Between epochs too, the held-out loss on the whole split;
                 * its time is not training time. */
                double eval_start = now();
                double between = held_out_bits(&m, &text, T);
                epoch_start += now() - eval_start;
                curve_add(&held_curve, epoch - 1 + (double)(k + 1) / (double)chunks, between);
                held_out_line(&bar, elapsed, between);
                while (next_eval <= elapsed) next_eval += eval_every;
            }
        }
        trained += now() - epoch_start;
        chunks_done += k;
        state_clear(&carry);
        bits = held_out_bits(&m, &text, T);
        curve_add(&held_curve, epoch - 1 + (double)k / (double)chunks, bits);
        progress_end(&bar, "held-out %.3f bits/char%s", bits, out_of_time ? " (time limit: stopped in this epoch)" : "");
    }
    if (chunks_done > 0)
        printf("held-out %.3f bits per character after %.0f s of training (%.1f s per epoch)\n", bits, trained,
               trained / (double)chunks_done * (double)chunks);
    const tg_metadata_item about[] = {{"model", "charlm: Embedding -> recurrent layers -> Linear"}, {"cell", cell}};
    if (save && tg_state_save(save, &entries, 2, about) < 0) {
        fprintf(stderr, "charlm: %s\n", tg_last_error());
        goto done;
    }
    if (save && !quiet) printf("saved the model to %s\n", save);
    if (n_sample > 0) {
        if (!quiet) printf("\n--- %lld sampled bytes, temperature %g ---\n", (long long)n_sample, temperature);
        sample(&m, &text, prime, n_sample, temperature);
    }

    status = 0;
    if (plot && held_curve.n > 0) {
        svg_chart *chart = svg_chart_new("Character LM on fortunes: loss", "epoch", "bits per character");
        svg_chart_line(chart, "train (running mean)", train_curve.n, train_curve.x, train_curve.y);
        svg_chart_line(chart, "held-out", held_curve.n, held_curve.x, held_curve.y);
        if (svg_chart_write(chart, plot) < 0) {
            fprintf(stderr, "charlm: cannot write --plot '%s': %s\n", plot, strerror(errno));
            status = 1;
        }
        svg_chart_free(chart);
    }

done:
    free(train_curve.x);
    free(train_curve.y);
    free(held_curve.x);
    free(held_curve.y);
    tg_optim_free(opt);
    tg_params_free(&m.params);
    tg_params_free(&entries);
    tg_free(vocab);
    tg_embedding_layer_free(m.embed);
    tg_rnn_free(m.rnn);
    tg_linear_layer_free(m.head);
    free_corpus(&text);
    return status;
}
