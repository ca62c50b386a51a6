/* Data-parallel collectives over MPI (see dist.h): set-up, the agreement
 * every collective starts with, parameter broadcast, gradient averaging and
 * scalar sums. Built when meson finds MPI; dist_nompi.c stands in otherwise.
 *
 * The state is one per process, like MPI's: a duplicate of the caller's
 * communicator and a flat buffer kept between calls, so a training loop
 * allocates nothing here after its first step. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mpi.h>

#include <tapegrad/dist.h>
#include "../core/internal.h"

/* The largest piece one MPI call moves: MPI counts are int. */
#define PIECE_BYTES ((size_t)1 << 30)
/* Entries of rank 0's parameter list sent per broadcast when naming a
 * difference (no allocation on that path). */
#define DESC_CHUNK 64

typedef enum { DIST_NEVER, DIST_READY, DIST_ENDED } dist_state;

/* The collective a rank is in, exchanged by agree() so that ranks calling
 * different functions fail together instead of waiting for each other. */
typedef enum { OP_BROADCAST = 1, OP_AVERAGE, OP_SUM, OP_BARRIER, OP_TEARDOWN } dist_op;
static const char *const op_names[] = {"?", "tg_dist_broadcast_params", "tg_dist_average_grads", "tg_dist_sum",
                                       "tg_dist_barrier", "tg_dist_teardown or tg_dist_finalize"};

static struct {
    dist_state state;
    MPI_Comm comm;           /* the library's duplicate of the caller's communicator */
    MPI_Errhandler on_error; /* set on comm: prints the MPI error and aborts the job */
    int rank, size;
    bool owns_mpi;           /* tg_dist_init called MPI_Init, so finalize ends MPI */
    bool aborting;           /* inside tg_dist_abort (an error handler may call it again) */
    void *buffer;            /* flat buffer of broadcast and reduction */
    size_t buffer_bytes;
    unsigned char *flags;    /* [flags_count] which parameters have a gradient somewhere */
    int flags_count;
} dist;

bool tg_dist_available(void) { return true; }

static bool ready(const char *fn)
{
    if (dist.state == DIST_READY) return true;
    if (dist.state == DIST_NEVER) return TG__REJECT("%s: called before tg_dist_setup or tg_dist_init", fn);
    return TG__REJECT("%s: called after tg_dist_teardown or tg_dist_finalize", fn);
}

typedef enum { AGREED, FAILED, DIFFERENT, OTHER_CALL } agreement;
static agreement agree(const char *fn, dist_op op, bool ok, uint64_t hash);

/* --- set-up and teardown ---------------------------------------------------- */

/* MPI failed on the library's communicator (a peer died, a message was
 * lost): nothing sensible can follow on any rank, so end the job with a
 * message rather than return into code that would wait for a dead peer. */
static void mpi_failed(MPI_Comm *comm, int *code, ...)
{
    char text[MPI_MAX_ERROR_STRING];
    int length = 0;
    MPI_Error_string(*code, text, &length);
    fprintf(stderr, "tapegrad: rank %d of %d: MPI error: %s; ending the job\n", dist.rank, dist.size, text);
    fflush(stderr);
    MPI_Abort(*comm, *code);
}

int tg_dist_setup(const void *mpi_comm)
{
    const char *fn = "tg_dist_setup";
    if (dist.state == DIST_READY) return tg_fail("%s: already set up; call tg_dist_teardown first", fn);
    int initialized = 0, finalized = 0;
    MPI_Finalized(&finalized);
    if (finalized) return tg_fail("%s: MPI is already finalized", fn);
    MPI_Initialized(&initialized);
    if (!initialized) return tg_fail("%s: MPI is not initialized: call MPI_Init first, or use tg_dist_init", fn);
    MPI_Comm base = mpi_comm ? *(const MPI_Comm *)mpi_comm : MPI_COMM_WORLD;
    if (base == MPI_COMM_NULL) return tg_fail("%s: the communicator is MPI_COMM_NULL", fn);
    int inter = 0;
    MPI_Comm_test_inter(base, &inter);
    if (inter) return tg_fail("%s: an intercommunicator cannot be used; pass an intracommunicator", fn);
    MPI_Comm comm;
    if (MPI_Comm_dup(base, &comm) != MPI_SUCCESS) return tg_fail("%s: MPI_Comm_dup failed", fn);
    MPI_Comm_create_errhandler(mpi_failed, &dist.on_error);
    MPI_Comm_set_errhandler(comm, dist.on_error);
    dist.comm = comm;
    MPI_Comm_rank(comm, &dist.rank);
    MPI_Comm_size(comm, &dist.size);
    dist.state = DIST_READY;
    return 0;
}

/* Release the communicator and buffers (collective: MPI_Comm_free). */
static int end(const char *fn)
{
    if (!ready(fn)) return -1;
    if (agree(fn, OP_TEARDOWN, true, 0) != AGREED) return -1;
    MPI_Comm_free(&dist.comm);
    MPI_Errhandler_free(&dist.on_error);
    free(dist.buffer);
    free(dist.flags);
    dist.buffer = NULL;
    dist.flags = NULL;
    dist.buffer_bytes = 0;
    dist.flags_count = 0;
    dist.state = DIST_ENDED;
    return 0;
}

int tg_dist_teardown(void) { return end("tg_dist_teardown"); }

int tg_dist_init(int *argc, char ***argv)
{
    const char *fn = "tg_dist_init";
    if (dist.state == DIST_READY) return tg_fail("%s: already set up; call tg_dist_finalize first", fn);
    int initialized = 0, finalized = 0;
    MPI_Finalized(&finalized);
    if (finalized) return tg_fail("%s: MPI is already finalized and cannot start again in this process", fn);
    MPI_Initialized(&initialized);
    if (!initialized) {
        int provided = 0;
        if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
            return tg_fail("%s: MPI_Init_thread failed", fn);
        dist.owns_mpi = true;
    }
    return tg_dist_setup(NULL);
}

int tg_dist_finalize(void)
{
    if (end("tg_dist_finalize") < 0) return -1;
    if (dist.owns_mpi) MPI_Finalize();
    dist.owns_mpi = false;
    return 0;
}

int tg_dist_rank(void)
{
    if (!ready("tg_dist_rank")) return -1;
    return dist.rank;
}

int tg_dist_world_size(void)
{
    if (!ready("tg_dist_world_size")) return -1;
    return dist.size;
}

bool tg_dist_is_root(void) { return ready("tg_dist_is_root") && dist.rank == 0; }

int tg_dist_barrier(void)
{
    if (!ready("tg_dist_barrier")) return -1;
    /* The agreement's all-reduce is the barrier: no rank leaves it before
     * every rank entered it. */
    return agree("tg_dist_barrier", OP_BARRIER, true, 0) == AGREED ? 0 : -1;
}

int tg_dist_abort(const char *message)
{
    /* An error handler that calls tg_dist_abort sees the message of the
     * failed ready() below and would call it again, without end. */
    if (dist.aborting) return -1;
    dist.aborting = true;
    if (!ready("tg_dist_abort")) {
        dist.aborting = false;
        return -1;
    }
    fprintf(stderr, "tapegrad: rank %d of %d: %s\n", dist.rank, dist.size, message ? message : "aborted");
    fflush(stderr);
    MPI_Abort(dist.comm, 1);
    dist.aborting = false;
    return -1;
}

/* --- agreement ---------------------------------------------------------------
 * Before a collective moves data, every rank must be able to take part and
 * must pass the same layout; otherwise ranks would wait for each other or
 * reduce mismatched buffers. */

/* What a rank's parameter entry looks like to the others (sent as bytes:
 * the ranks run the same build on the same architecture). */
typedef struct {
    char name[TG_PARAM_NAME_MAX];
    int64_t shape[TG_MAX_DIMS];
    int32_t ndim, dtype, requires_grad, present;
} entry_desc;

static entry_desc describe(const tg_params *params, int i)
{
    entry_desc d;
    memset(&d, 0, sizeof d); /* padding and the name's tail hash as zeros */
    if (i >= params->count) return d;
    const tg_tensor *t = params->items[i].tensor;
    snprintf(d.name, sizeof d.name, "%s", params->items[i].name);
    d.ndim = t->ndim;
    d.dtype = (int32_t)t->dtype;
    d.requires_grad = t->requires_grad;
    d.present = 1;
    memcpy(d.shape, t->shape, sizeof t->shape[0] * (size_t)t->ndim);
    return d;
}

/* FNV-1a over n bytes, continuing from hash. */
static uint64_t fnv1a(uint64_t hash, const void *data, size_t n)
{
    const unsigned char *bytes = data;
    for (size_t i = 0; i < n; i++) hash = (hash ^ bytes[i]) * 0x100000001B3ull;
    return hash;
}

/* "'lstm.bias_ih_l0' float32 [32]", with " (requires_grad false)" when so. */
static const char *desc_str(const entry_desc *d, char *buf, size_t len)
{
    int n = snprintf(buf, len, "'%s' %s [", d->name, tg_dtype_name((tg_dtype)d->dtype));
    for (int k = 0; k < d->ndim && n > 0 && (size_t)n < len; k++)
        n += snprintf(buf + n, len - (size_t)n, k ? ",%lld" : "%lld", (long long)d->shape[k]);
    if (n > 0 && (size_t)n < len)
        snprintf(buf + n, len - (size_t)n, "]%s", d->requires_grad ? "" : " (requires_grad false)");
    return buf;
}

/* Some rank failed its own checks: the lowest such rank sends its message
 * and every rank fails with it. */
static void spread_failure(bool ok)
{
    int mine = ok ? INT_MAX : dist.rank, lowest = 0;
    MPI_Allreduce(&mine, &lowest, 1, MPI_INT, MPI_MIN, dist.comm);
    char message[1024] = "";
    if (dist.rank == lowest) snprintf(message, sizeof message, "%s", tg_last_error());
    MPI_Bcast(message, (int)sizeof message, MPI_CHAR, lowest, dist.comm);
    tg_fail("%s (on rank %d of %d)", message, lowest, dist.size);
}

/* One MPI_Allreduce (max) over 17 bytes: whether some rank failed its own
 * checks (ok false, its message in tg_last_error), and whether every rank
 * passed the same hash. The maximum over ranks of each byte of hash and of
 * ~hash is the largest byte and 255 minus the smallest: all hashes are
 * equal exactly when each such pair sums to 255. FAILED leaves the message
 * of the lowest failing rank on every rank. */
static agreement agree(const char *fn, dist_op op, bool ok, uint64_t hash)
{
    unsigned char mine[19], all[19];
    mine[0] = !ok;
    for (int i = 0; i < 8; i++) {
        mine[1 + i] = (unsigned char)(hash >> 8 * i);
        mine[9 + i] = (unsigned char)~(hash >> 8 * i);
    }
    mine[17] = (unsigned char)op;
    mine[18] = (unsigned char)~op;
    MPI_Allreduce(mine, all, 19, MPI_UNSIGNED_CHAR, MPI_MAX, dist.comm);
    if (all[17] + all[18] != 255) {
        /* Some rank is in another collective: name rank 0's and the lowest
         * rank whose call differs, on every rank. */
        int root_op = op, other_op = op, differs, lowest = INT_MAX;
        MPI_Bcast(&root_op, 1, MPI_INT, 0, dist.comm);
        differs = op != (dist_op)root_op ? dist.rank : INT_MAX;
        MPI_Allreduce(&differs, &lowest, 1, MPI_INT, MPI_MIN, dist.comm);
        MPI_Bcast(&other_op, 1, MPI_INT, lowest, dist.comm);
        tg_fail("%s: the ranks called different collectives: %s on rank 0 but %s on rank %d", fn, op_names[root_op],
                op_names[other_op], lowest);
        return OTHER_CALL;
    }
    if (all[0]) {
        spread_failure(ok);
        return FAILED;
    }
    for (int i = 0; i < 8; i++)
        if (all[1 + i] + all[9 + i] != 255) return DIFFERENT;
    return AGREED;
}

/* The parameter lists differ (their hashes do). Rank 0 sends its list in
 * chunks, every rank finds its first entry that differs from rank 0's (an
 * entry past the end of one list differs), MINLOC picks the lowest (entry,
 * rank), and that rank and rank 0 send their versions of the entry, so that
 * every rank fails with the same message. Returns -1. */
static int name_difference(const char *fn, const tg_params *params)
{
    int root_count = params->count;
    MPI_Bcast(&root_count, 1, MPI_INT, 0, dist.comm);
    int first = INT_MAX;
    entry_desc chunk[DESC_CHUNK];
    for (int start = 0; start < root_count; start += DESC_CHUNK) {
        const int n = root_count - start < DESC_CHUNK ? root_count - start : DESC_CHUNK;
        if (dist.rank == 0)
            for (int i = 0; i < n; i++) chunk[i] = describe(params, start + i);
        MPI_Bcast(chunk, (int)(sizeof chunk[0] * (size_t)n), MPI_BYTE, 0, dist.comm);
        for (int i = 0; i < n && first == INT_MAX; i++) {
            entry_desc mine = describe(params, start + i);
            if (memcmp(&mine, &chunk[i], sizeof mine) != 0) first = start + i;
        }
    }
    if (first == INT_MAX && params->count > root_count) first = root_count;
    struct {
        int index, rank;
    } mine = {first, dist.rank}, lowest;
    MPI_Allreduce(&mine, &lowest, 1, MPI_2INT, MPI_MINLOC, dist.comm);
    entry_desc at_root = describe(params, lowest.index), at_other = at_root;
    int other_count = params->count;
    MPI_Bcast(&at_root, (int)sizeof at_root, MPI_BYTE, 0, dist.comm);
    MPI_Bcast(&at_other, (int)sizeof at_other, MPI_BYTE, lowest.rank, dist.comm);
    MPI_Bcast(&other_count, 1, MPI_INT, lowest.rank, dist.comm);
    char a[320], b[320];
    if (at_root.present && at_other.present)
        return tg_fail("%s: the parameter lists differ between ranks: entry %d is %s on rank 0 but %s on rank %d", fn,
                       lowest.index, desc_str(&at_root, a, sizeof a), desc_str(&at_other, b, sizeof b), lowest.rank);
    const entry_desc *extra = at_root.present ? &at_root : &at_other;
    return tg_fail("%s: the parameter lists differ between ranks: rank 0 has %d parameters but rank %d has %d; "
                   "entry %d is %s on rank %d only",
                   fn, root_count, lowest.rank, other_count, lowest.index, desc_str(extra, a, sizeof a),
                   at_root.present ? 0 : lowest.rank);
}

/* --- the flat buffer --------------------------------------------------------- */

/* Room for bytes in the flat buffer and for one flag per parameter, kept
 * for the next call; false with a message when out of memory. */
static bool reserve(const char *fn, size_t bytes, int count)
{
    if (bytes > dist.buffer_bytes) {
        void *bigger = tg__realloc(dist.buffer, bytes);
        if (!bigger) return TG__REJECT("%s: out of memory for a %zu-byte buffer", fn, bytes);
        dist.buffer = bigger;
        dist.buffer_bytes = bytes;
    }
    if (count > dist.flags_count) {
        unsigned char *flags = tg__realloc(dist.flags, (size_t)count);
        if (!flags) return TG__REJECT("%s: out of memory", fn);
        dist.flags = flags;
        dist.flags_count = count;
    }
    return true;
}

/* This rank's own checks of the collection: every parameter a live,
 * contiguous tensor, and with grads, every gradient of a parameter that
 * requires grad contiguous with its parameter's shape and dtype. Sets the
 * layout hash and the bytes the data take (with grads: of the parameters
 * that require grad), and reserves them. */
static bool check_params(const char *fn, const tg_params *params, bool grads, uint64_t *hash)
{
    if (!params) return TG__REJECT("%s: NULL parameter collection", fn);
    uint64_t h = fnv1a(0xCBF29CE484222325ull, &params->count, sizeof params->count);
    size_t bytes = 0;
    for (int i = 0; i < params->count; i++) {
        const char *name = params->items[i].name;
        const tg_tensor *t = params->items[i].tensor;
        if (!t) return TG__REJECT("%s: parameter '%s' is NULL", fn, name);
        if (!tg__check(fn, t)) return false;
        if (!tg_is_contiguous(t)) return TG__REJECT("%s: parameter '%s' is not contiguous", fn, name);
        const tg_tensor *g = t->grad;
        if (grads && t->requires_grad && g) {
            char ps[64], gs[64];
            if (!tg__check(fn, g)) return false;
            if (!tg_same_shape(g, t) || g->dtype != t->dtype || !tg_is_contiguous(g))
                return TG__REJECT("%s: the gradient of '%s' must be a contiguous %s %s like its parameter, got %s %s%s",
                                  fn, name, tg_dtype_name(t->dtype), tg_shape_str(t, ps, sizeof ps),
                                  tg_dtype_name(g->dtype), tg_shape_str(g, gs, sizeof gs),
                                  tg_is_contiguous(g) ? "" : " (not contiguous)");
        }
        entry_desc d = describe(params, i);
        h = fnv1a(h, &d, sizeof d);
        if (!grads || t->requires_grad) bytes += (size_t)tg_numel(t) * tg_dtype_size(t->dtype);
    }
    if (grads) bytes += sizeof(double); /* the failure count after the gradients */
    *hash = h;
    return reserve(fn, bytes, params->count);
}

/* Start of a collective over params: this rank's checks, then the
 * agreement. 0 when every rank may go on, else -1 on every rank. */
static int start(const char *fn, const tg_params *params, bool grads)
{
    if (!ready(fn)) return -1;
    uint64_t hash = 0;
    bool ok = check_params(fn, params, grads, &hash);
    switch (agree(fn, grads ? OP_AVERAGE : OP_BROADCAST, ok, hash)) {
    case AGREED: return 0;
    case DIFFERENT: return name_difference(fn, params);
    case FAILED:
    case OTHER_CALL: break;
    }
    return -1;
}

/* --- broadcast and average ---------------------------------------------------- */

int tg_dist_broadcast_params(const tg_params *params)
{
    if (start("tg_dist_broadcast_params", params, false) < 0) return -1;
    char *buffer = dist.buffer;
    size_t bytes = 0;
    for (int i = 0; i < params->count; i++) {
        const tg_tensor *t = params->items[i].tensor;
        const size_t n = (size_t)tg_numel(t) * tg_dtype_size(t->dtype);
        if (dist.rank == 0) memcpy(buffer + bytes, tg_data(t), n);
        bytes += n;
    }
    for (size_t done = 0; done < bytes; done += PIECE_BYTES) {
        const size_t n = bytes - done < PIECE_BYTES ? bytes - done : PIECE_BYTES;
        MPI_Bcast(buffer + done, (int)n, MPI_BYTE, 0, dist.comm);
    }
    for (int i = 0; dist.rank != 0 && i < params->count; i++) {
        const tg_tensor *t = params->items[i].tensor;
        const size_t n = (size_t)tg_numel(t) * tg_dtype_size(t->dtype);
        memcpy(tg_data(t), buffer, n);
        t->storage->version++; /* an in-place write: a backward that saved t refuses it */
        buffer += n;
    }
    return 0;
}

/* Sum count elements of dtype in place over the ranks, in pieces. */
static void allreduce_sum(void *data, int64_t count, tg_dtype dtype)
{
    const size_t size = tg_dtype_size(dtype);
    const int64_t piece = (int64_t)(PIECE_BYTES / size);
    MPI_Datatype type = dtype == TG_F32 ? MPI_FLOAT : MPI_DOUBLE;
    for (int64_t done = 0; done < count; done += piece) {
        const int64_t n = count - done < piece ? count - done : piece;
        MPI_Allreduce(MPI_IN_PLACE, (char *)data + (size_t)done * size, (int)n, type, MPI_SUM, dist.comm);
    }
}

/* Average the gradients of the flagged parameters of one dtype: pack them
 * (zeros for a parameter that has no gradient on this rank), followed by
 * one element holding 1 if this rank is out of memory (ok false), sum over
 * the ranks, and unless that element sums to more than 0, divide by the
 * world size and store. Returns the number of ranks out of memory, the
 * same on every rank; nothing is stored when it is not 0. */
static int average_dtype(const tg_params *params, tg_dtype dtype, bool ok)
{
    const size_t size = tg_dtype_size(dtype);
    char *buffer = dist.buffer;
    int64_t count = 0;
    for (int i = 0; i < params->count; i++) {
        const tg_tensor *t = params->items[i].tensor;
        if (!dist.flags[i] || t->dtype != dtype) continue;
        const int64_t n = tg_numel(t);
        if (t->grad) memcpy(buffer + (size_t)count * size, tg_data(t->grad), (size_t)n * size);
        else memset(buffer + (size_t)count * size, 0, (size_t)n * size); /* out of memory before its turn */
        count += n;
    }
    if (count == 0) return 0;
    if (dtype == TG_F32) ((float *)buffer)[count] = ok ? 0.0f : 1.0f;
    else ((double *)buffer)[count] = ok ? 0.0 : 1.0;
    allreduce_sum(buffer, count + 1, dtype);
    const double failed = dtype == TG_F32 ? ((const float *)buffer)[count] : ((const double *)buffer)[count];
    if (failed > 0) return (int)failed;
    int64_t at = 0;
    for (int i = 0; i < params->count; i++) {
        tg_tensor *t = params->items[i].tensor;
        if (!dist.flags[i] || t->dtype != dtype) continue;
        const int64_t n = tg_numel(t);
        if (dtype == TG_F32) {
            const float *sum = (const float *)buffer + at;
            float *out = tg_data(t->grad), ranks = (float)dist.size;
            for (int64_t j = 0; j < n; j++) out[j] = sum[j] / ranks;
        } else {
            const double *sum = (const double *)buffer + at;
            double *out = tg_data(t->grad), ranks = (double)dist.size;
            for (int64_t j = 0; j < n; j++) out[j] = sum[j] / ranks;
        }
        at += n;
    }
    return 0;
}

int tg_dist_average_grads(const tg_params *params)
{
    const char *fn = "tg_dist_average_grads";
    if (start(fn, params, true) < 0) return -1;
    /* Which parameters have a gradient on some rank: one max over a byte
     * per parameter, so that every rank packs the same ones. */
    for (int i = 0; i < params->count; i++) {
        const tg_tensor *t = params->items[i].tensor;
        dist.flags[i] = t->requires_grad && t->grad;
    }
    if (params->count > 0)
        MPI_Allreduce(MPI_IN_PLACE, dist.flags, params->count, MPI_UNSIGNED_CHAR, MPI_MAX, dist.comm);
    /* A parameter without a gradient here gets a zero one (flag 2: made
     * here) before the sums, so that a rank out of memory says so inside
     * them and every rank fails together, with no further call when none
     * is. */
    bool ok = true;
    for (int i = 0; ok && i < params->count; i++) {
        tg_tensor *t = params->items[i].tensor;
        if (!dist.flags[i] || t->grad) continue;
        if (tg_grad_slot(t)) dist.flags[i] = 2;
        else ok = TG__REJECT("%s: out of memory for the gradient of '%s'", fn, params->items[i].name);
    }
    int failed = average_dtype(params, TG_F32, ok);
    if (failed == 0) failed = average_dtype(params, TG_F64, ok);
    if (failed == 0) return 0;
    for (int i = 0; i < params->count; i++) {
        tg_tensor *t = params->items[i].tensor;
        if (dist.flags[i] != 2) continue;
        tg_free(t->grad);
        t->grad = NULL;
    }
    spread_failure(ok);
    return -1;
}

/* --- scalar sums ---------------------------------------------------------------- */

static bool check_values(const char *fn, int n, const double *values)
{
    if (n < 0) return TG__REJECT("%s: n must be >= 0, got %d", fn, n);
    if (n > 0 && !values) return TG__REJECT("%s: NULL values for n = %d", fn, n);
    return true;
}

int tg_dist_sum(int n, double *values)
{
    const char *fn = "tg_dist_sum";
    if (!ready(fn)) return -1;
    switch (agree(fn, OP_SUM, check_values(fn, n, values), (uint64_t)(unsigned)n)) {
    case AGREED: break;
    case FAILED:
    case OTHER_CALL: return -1;
    case DIFFERENT: {
        /* Name the first rank whose count differs from rank 0's. */
        int root_n = n, mine = n, lowest = INT_MAX;
        MPI_Bcast(&root_n, 1, MPI_INT, 0, dist.comm);
        int differs = n != root_n ? dist.rank : INT_MAX;
        MPI_Allreduce(&differs, &lowest, 1, MPI_INT, MPI_MIN, dist.comm);
        MPI_Bcast(&mine, 1, MPI_INT, lowest, dist.comm);
        return tg_fail("%s: the ranks passed different counts: n = %d on rank 0 but %d on rank %d", fn, root_n, mine,
                       lowest);
    }
    }
    if (n > 0) MPI_Allreduce(MPI_IN_PLACE, values, n, MPI_DOUBLE, MPI_SUM, dist.comm);
    return 0;
}
