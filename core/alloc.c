/* System memory. Every byte the library takes from the system passes
 * through the wrappers here, and every bump of a scope arena asks
 * tg__alloc_refused first, so that:
 *  - tests can make any one allocation fail (tg__alloc_fail_at) and check
 *    that the failure comes back as an error, never as a crash or a wrong
 *    answer, and the fuzzer can refuse allocations above a size;
 *  - debug builds know which persistent tensor headers are alive, so that a
 *    second tg_free of the same tensor is reported instead of freeing twice;
 *  - a thread's memory (its arena, its scratch buffers for GEMM packing)
 *    is freed when the thread exits, not only by tg_release_thread_memory. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <string.h>

#include "internal.h"

/* --- fault injection ------------------------------------------------------- */

/* Off unless a test arms it: one relaxed load per allocation. */
static atomic_bool armed;
static atomic_int_least64_t counted, refusals, fail_at = -1;
static atomic_size_t size_limit;

void tg__alloc_fail_at(int64_t k)
{
    atomic_store(&counted, 0);
    atomic_store(&refusals, 0);
    atomic_store(&fail_at, k);
    atomic_store(&armed, k >= 0 || atomic_load(&size_limit) > 0);
}

void tg__alloc_limit(size_t max_bytes)
{
    atomic_store(&size_limit, max_bytes);
    atomic_store(&armed, atomic_load(&fail_at) >= 0 || max_bytes > 0);
}

int64_t tg__alloc_count(void) { return atomic_load(&counted); }
int64_t tg__alloc_refusals(void) { return atomic_load(&refusals); }

bool tg__alloc_refused(size_t nbytes)
{
    if (!atomic_load_explicit(&armed, memory_order_relaxed)) return false;
    size_t limit = atomic_load(&size_limit);
    bool refuse = atomic_fetch_add(&counted, 1) == atomic_load(&fail_at) || (limit > 0 && nbytes > limit);
    if (refuse) atomic_fetch_add(&refusals, 1);
    return refuse;
}

void *tg__malloc(size_t nbytes) { return tg__alloc_refused(nbytes) ? NULL : malloc(nbytes ? nbytes : 1); }

void *tg__calloc(size_t count, size_t size)
{
    if (size && count > SIZE_MAX / size) return NULL;
    return tg__alloc_refused(count * size) ? NULL : calloc(count ? count : 1, size ? size : 1);
}

void *tg__realloc(void *p, size_t nbytes) { return tg__alloc_refused(nbytes) ? NULL : realloc(p, nbytes ? nbytes : 1); }

/* Blocks of at least a huge page (2 MB on x86-64) that the caller will use
 * from end to end start on one and are marked for transparent huge pages,
 * which Debian gives only to memory that asks (madvise mode; a no-op where
 * they are off or always on): a training
 * step streams tens of MB of arena (saved activations, gradients), and
 * with 4 KB pages each 4 KB of it cost a page walk. Zen 4, 1 thread,
 * training step: LSTM B=64 T=50 I=H=256 84.9 ms against 85.8 (medians of
 * 15 alternating runs), B=32 T=100 I=H=128 23.8 against 24.4, the GRU
 * 63.9 against 64.8; peak RSS 7 MB more, the same per time step. The size
 * is not rounded up: a block's tail past its last whole huge page keeps
 * small pages.
 * Only memory used end to end asks: khugepaged may, at any later moment,
 * fill a marked 2 MB range that holds a single touched page. GEMM packing
 * buffers sized for whole cache blocks (8.4 MB on 2 threads, a few KB of
 * them written by a small model) grew a program's RSS by 2 to 4 MB
 * thousands of steps in. Tensor storage and packing buffers are sized to
 * what is written; a thread's first arena chunk (4 MB, of which a small
 * program touches a few KB) keeps small pages, and the chunks after it
 * exist because a step filled the ones before. */
#define HUGE_PAGE ((size_t)2 << 20)

void *tg__aligned_alloc(size_t nbytes, bool huge_pages)
{
    if (nbytes > SIZE_MAX - 2 * HUGE_PAGE || tg__alloc_refused(nbytes)) return NULL;
    size_t rounded = (nbytes + TG_ALIGN - 1) / TG_ALIGN * TG_ALIGN;
#ifdef MADV_HUGEPAGE
    if (huge_pages && nbytes >= HUGE_PAGE) {
        void *p = NULL; /* C11's aligned_alloc wants the size a multiple of the alignment */
        if (posix_memalign(&p, HUGE_PAGE, rounded) != 0) return NULL;
        madvise(p, rounded, MADV_HUGEPAGE); /* advice: its failure changes nothing */
        return p;
    }
#else
    (void)huge_pages;
#endif
    return aligned_alloc(TG_ALIGN, rounded ? rounded : TG_ALIGN);
}

/* --- live persistent tensors ------------------------------------------------- */

static atomic_int_least64_t live_count;

int64_t tg__live_tensors(void) { return atomic_load(&live_count); }

#ifdef NDEBUG
bool tg__live_add(const tg_tensor *t)
{
    (void)t;
    atomic_fetch_add(&live_count, 1);
    return true;
}

/* Without the set, a header is judged by what it says: a freed one has its
 * magic cleared (while its memory has not been reused). */
bool tg__live_remove(const tg_tensor *t)
{
    if (t->magic != TG_MAGIC || !t->persistent || t->graph_state >= TG__GRAPH_FREED) return false;
    atomic_fetch_sub(&live_count, 1);
    return true;
}
#else
/* An open-addressing set of header addresses (linear probing, deletion by
 * backward shift), guarded by a mutex: persistent tensors are made and
 * freed outside the hot loop, and any thread may free one. */
static pthread_mutex_t live_lock = PTHREAD_MUTEX_INITIALIZER;
static const tg_tensor **live_slots;
static size_t live_capacity, live_used;

static size_t live_hash(const tg_tensor *t, size_t mask)
{
    uint64_t x = (uint64_t)(uintptr_t)t;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    return (size_t)x & mask;
}

static bool live_grow(void)
{
    size_t capacity = live_capacity ? 2 * live_capacity : 1024;
    const tg_tensor **slots = calloc(capacity, sizeof *slots);
    if (!slots) return false;
    for (size_t i = 0; i < live_capacity; i++) {
        if (!live_slots[i]) continue;
        size_t k = live_hash(live_slots[i], capacity - 1);
        while (slots[k]) k = (k + 1) & (capacity - 1);
        slots[k] = live_slots[i];
    }
    free(live_slots);
    live_slots = slots;
    live_capacity = capacity;
    return true;
}

bool tg__live_add(const tg_tensor *t)
{
    pthread_mutex_lock(&live_lock);
    bool ok = 2 * (live_used + 1) <= live_capacity || live_grow();
    if (ok) {
        size_t mask = live_capacity - 1, k = live_hash(t, mask);
        while (live_slots[k]) k = (k + 1) & mask;
        live_slots[k] = t;
        live_used++;
        atomic_fetch_add(&live_count, 1);
    }
    pthread_mutex_unlock(&live_lock);
    return ok;
}

bool tg__live_remove(const tg_tensor *t)
{
    pthread_mutex_lock(&live_lock);
    bool found = false;
    if (live_capacity) {
        size_t mask = live_capacity - 1, k = live_hash(t, mask);
        while (live_slots[k] && live_slots[k] != t) k = (k + 1) & mask;
        found = live_slots[k] == t;
        if (found) {
            /* Shift later members of the probe run back into the hole when
             * their home slot is not between the hole and them. */
            size_t hole = k;
            live_slots[hole] = NULL;
            for (size_t j = (k + 1) & mask; live_slots[j]; j = (j + 1) & mask) {
                size_t home = live_hash(live_slots[j], mask);
                if (((j - home) & mask) >= ((j - hole) & mask)) {
                    live_slots[hole] = live_slots[j];
                    live_slots[j] = NULL;
                    hole = j;
                }
            }
            live_used--;
            atomic_fetch_sub(&live_count, 1);
        }
    }
    pthread_mutex_unlock(&live_lock);
    return found;
}
#endif

/* --- per-thread memory ------------------------------------------------------ */

typedef struct {
    void *data[TG_SCRATCH_BUFFERS];
    size_t size[TG_SCRATCH_BUFFERS];
} scratch_set;

static _Thread_local scratch_set scratch;
static atomic_size_t scratch_total; /* bytes held by every thread's buffers */
static pthread_key_t thread_key;
static pthread_once_t thread_key_once = PTHREAD_ONCE_INIT;

/* The key's destructor runs when a thread that holds memory exits (OpenMP
 * workers of short-lived threads included) and frees it all. */
static void thread_exit(void *unused)
{
    (void)unused;
    tg__thread_memory_free();
}

static void thread_key_create(void) { pthread_key_create(&thread_key, thread_exit); }

bool tg__thread_holds_memory(void)
{
    pthread_once(&thread_key_once, thread_key_create);
    return pthread_getspecific(thread_key) || pthread_setspecific(thread_key, &scratch) == 0;
}

void *tg__thread_scratch(int which, size_t nbytes)
{
    if (scratch.size[which] >= nbytes) return scratch.data[which];
    if (!tg__thread_holds_memory()) return NULL;
    size_t size = (nbytes + 4095) / 4096 * 4096;
    void *data = tg__aligned_alloc(size, true);
    if (!data) return NULL;
    free(scratch.data[which]);
    atomic_fetch_add(&scratch_total, size - scratch.size[which]);
    scratch.data[which] = data;
    scratch.size[which] = size;
    return data;
}

size_t tg__thread_scratch_bytes(void)
{
    size_t n = 0;
    for (int i = 0; i < TG_SCRATCH_BUFFERS; i++) n += scratch.size[i];
    return n;
}

size_t tg__scratch_bytes(void) { return atomic_load(&scratch_total); }

void tg__thread_scratch_release(void)
{
    for (int i = 0; i < TG_SCRATCH_BUFFERS; i++) {
        free(scratch.data[i]);
        atomic_fetch_sub(&scratch_total, scratch.size[i]);
        scratch.data[i] = NULL;
        scratch.size[i] = 0;
    }
}
