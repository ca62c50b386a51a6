/* The arena behind scopes: a list of chunks with a bump pointer. A scope is
 * a mark (chunk, offset, tape tail); ending it rewinds to the mark and keeps
 * every chunk for reuse. In sanitizer builds every byte of a chunk that is
 * not handed out is poisoned (the alignment padding of each allocation
 * included), so ASan reports overflows and use after scope inside chunks as
 * it does for malloc'd memory; only the headers of dead tensors stay
 * readable, so that using one is reported by tg__check. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define CHUNK_MIN (4u << 20)
#define SCOPE_MAGIC 0x73636f70u

typedef struct chunk {
    struct chunk *next;
    size_t size, used;
    char *data;
} chunk;

/* A point of the arena to come back to: a scope's start, the base level's
 * floor. */
typedef struct {
    chunk *chunk; /* NULL: before the first chunk */
    size_t used, total;
} arena_mark;

struct tg_scope {
    uint32_t magic;
    int depth;
    struct tg_scope *outer;   /* the scope open when this one began, or NULL */
    arena_mark mark;
    tg_node *mark_tape;
    tg_tensor *mark_tensors;
};

/* --- memory handed out twice ---------------------------------------------------
 * A block of a scope's memory that nothing will read again (a gradient whose
 * node's backward has run, a layer's temporary that no backward reads) goes
 * on a free list, the entry written in its own first bytes, and the next
 * tensor of exactly its size made at that scope depth or deeper takes it
 * back. Ending a scope drops the blocks listed at its depth or deeper. */
typedef struct free_block {
    struct free_block *next;
    int64_t nbytes;
    int depth;
} free_block;
#define MAX_WALK 32 /* entries looked at per request: the list stays short */

static _Thread_local free_block *free_blocks;
static _Thread_local chunk *first_chunk, *current;
static _Thread_local size_t total_used, chunk_allocs;
static _Thread_local int depth;
static _Thread_local tg_scope *innermost; /* the open scope of largest depth */
static _Thread_local tg_tensor *newest_tensor;
/* tg_scope_end is freeing the .grad of the leaves made in the ending scope:
 * made after it began, nothing but that scope could use them. */
static _Thread_local bool ending;

void tg__scope_register(tg_tensor *t)
{
    t->scope_prev = newest_tensor;
    newest_tensor = t;
}

int tg__scope_depth(void) { return depth; }

void tg__scope_recycle(void *data, int64_t nbytes)
{
    free_block *b = data;
    TG_POISON((char *)data + sizeof *b, (size_t)nbytes - sizeof *b);
    *b = (free_block){free_blocks, nbytes, depth};
    free_blocks = b;
}

void *tg__scope_reuse(int64_t nbytes)
{
    if (nbytes < TG__REUSE_MIN) return NULL;
    int walked = 0;
    for (free_block **p = &free_blocks; *p && walked < MAX_WALK; p = &(*p)->next, walked++) {
        free_block *b = *p;
        if (b->nbytes != nbytes || b->depth > depth) continue;
        *p = b->next;
        TG_UNPOISON(b, (size_t)nbytes);
        return b;
    }
    return NULL;
}

tg_tensor *tg__scope_newest(void) { return newest_tensor; }

static chunk *chunk_new(size_t need)
{
    size_t size = need > CHUNK_MIN ? need : CHUNK_MIN;
    if (!first_chunk && !tg__thread_holds_memory()) return NULL;
    chunk *c = tg__malloc(sizeof *c);
    if (!c) return NULL;
    c->data = tg__aligned_alloc(size, first_chunk != NULL); /* see core/alloc.c */
    if (!c->data) {
        free(c);
        return NULL;
    }
    TG_POISON(c->data, size);
    c->size = size;
    c->used = 0;
    c->next = NULL;
    chunk_allocs++;
    return c;
}

void *tg__arena_take(size_t nbytes)
{
    if (nbytes > SIZE_MAX / 2 || tg__alloc_refused(nbytes)) return NULL;
    size_t need = (nbytes + TG_ALIGN - 1) / TG_ALIGN * TG_ALIGN;
    if (!current) {
        first_chunk = current = chunk_new(need);
        if (!current) return NULL;
    }
    /* Move on through the chunks kept from earlier iterations; make a new
     * one, inserted after the current, only when none of them fits. */
    while (current->size - current->used < need) {
        chunk *next = current->next;
        if (next && next->size >= need) {
            current = next;
            current->used = 0;
            continue;
        }
        chunk *c = chunk_new(need);
        if (!c) return NULL;
        c->next = next;
        current->next = c;
        current = c;
    }
    char *p = current->data + current->used;
    current->used += need;
    total_used += need;
    TG_UNPOISON(p, nbytes);
    return p;
}

void *tg__arena_alloc(size_t nbytes)
{
    void *p = tg__arena_take(nbytes);
    return p ? p : tg_error("tg_scope: out of memory allocating %zu bytes", nbytes);
}

bool tg__arena_owns(const void *p)
{
    for (chunk *c = first_chunk; c; c = c->next)
        if ((const char *)p >= c->data && (const char *)p < c->data + c->size) return true;
    return false;
}

static arena_mark arena_here(void) { return (arena_mark){current, current ? current->used : 0, total_used}; }

/* Hand out the arena from m on again, and forget the free blocks listed at
 * depth from_depth or deeper (they lie past m). Sanitizer builds: everything
 * handed out since m becomes unaddressable again (chunks after m's were
 * used from their start). */
static void arena_rewind(arena_mark m, int from_depth)
{
    for (free_block **p = &free_blocks; *p;) {
        if ((*p)->depth >= from_depth) *p = (*p)->next;
        else p = &(*p)->next;
    }
    current = m.chunk ? m.chunk : first_chunk;
    if (current) {
        size_t from = m.chunk ? m.used : 0;
        TG_POISON(current->data + from, current->size - from);
        for (const chunk *c = current->next; c; c = c->next) TG_POISON(c->data, c->size);
        current->used = from;
    }
    total_used = m.total;
}

/* A new innermost scope, or NULL without a message (out of memory). */
static tg_scope *scope_open(void)
{
    arena_mark mark = arena_here();
    tg_scope *s = tg__arena_take(sizeof *s);
    if (!s) return NULL;
    s->magic = SCOPE_MAGIC;
    s->depth = ++depth;
    s->outer = innermost;
    innermost = s;
    s->mark = mark;
    s->mark_tape = tg__tape_tail();
    s->mark_tensors = newest_tensor;
    return s;
}

tg_scope *tg_scope_begin(void)
{
    tg_scope *s = scope_open();
    return s ? s : tg_error("tg_scope_begin: out of memory");
}

static void scope_freed_free(void);

int tg_scope_end(tg_scope *s)
{
    /* Found among this thread's open scopes before anything of it is read:
     * another thread's scope (or one ended, whose memory may be gone) has
     * the right magic and a plausible depth, and ending it here would
     * rewind this thread's arena and tape to the other thread's marks. */
    const tg_scope *open = innermost;
    while (open && open != s) open = open->outer;
    if (!s || !open) return tg_fail("tg_scope_end: not an open scope of this thread");
    /* From a hook or a backward function: the running pass's scope would
     * end with s, and the pass go on in memory handed out again. */
    if (s->depth <= tg__pass_depth())
        return tg_fail("tg_scope_end: a backward pass is running in this scope (called from a hook or a backward "
                       "function); end it after tg_backward returns");
    struct tg_scope mark = *s;
    tg_scope *inner = innermost;
    /* Drop the scope's tape nodes before its memory goes: tg_free of a
     * leaf's .grad below walks the tape (tg__tape_forget_leaf). */
    tg__tape_rewind(mark.mark_tape);
    arena_rewind(mark.mark, mark.depth);
    /* An ended scope stays readable, and is refused by a second end: so do
     * the inner scopes still open, which end with it. */
    for (tg_scope *t = inner; t; t = t == s ? NULL : t->outer) {
        TG_UNPOISON(t, sizeof *t);
        t->magic = 0;
    }
    innermost = mark.outer;
    /* Mark the scope's tensors dead, so that a pointer kept past the scope
     * fails tg__check instead of reading whatever reuses the memory. A leaf
     * made here takes its persistent .grad along. */
    ending = true;
    for (tg_tensor *t = newest_tensor, *prev; t && t != mark.mark_tensors; t = prev) {
        TG_UNPOISON(t, sizeof *t);
        prev = t->scope_prev;
        t->magic = 0;
        if (t->grad) tg_free(t->grad);
        t->grad = NULL;
    }
    ending = false;
    newest_tensor = mark.mark_tensors;
    depth = mark.depth - 1;
    if (depth == 0) scope_freed_free();
    return 0;
}

size_t tg_arena_used(void) { return total_used; }

size_t tg_arena_reserved(void)
{
    size_t n = 0;
    for (chunk *c = first_chunk; c; c = c->next) n += c->size;
    return n;
}

size_t tg_arena_chunk_allocs(void) { return chunk_allocs; }

static void graph_free(void);

/* --- the base level's memory, given back when its tape dies -----------------
 * Outside any scope the arena holds the base-level tape's nodes, with what
 * hangs off them (their arrays, contexts, hooks), and the short-lived
 * arrays of ops. When no node on that tape can take part in a backward any
 * more (a backward released each, or nothing could reach it), autograd.c
 * cuts the tape back to the floor and the arena returns there: the point
 * after the last thing made outside any scope that outlives graphs (a
 * leaf's hook). A training loop outside scopes then reuses the same memory
 * each iteration, as one inside a scope does. */
static _Thread_local struct {
    arena_mark arena;
    tg_node *tape;
} base_floor;

void tg__base_floor_raise(void)
{
    if (depth > 0) return;
    base_floor.arena = arena_here();
    base_floor.tape = tg__tape_tail();
}

tg_node *tg__base_floor_tape(void) { return base_floor.tape; }

tg_node *tg__scope_tape_mark(void) { return innermost ? innermost->mark_tape : NULL; }

void tg__thread_memory_free(void)
{
    base_floor.arena = (arena_mark){0};
    base_floor.tape = NULL;
    /* A thread's exit with scopes open: nothing runs in them any more, and
     * the tensors freed below are not looked for in them. */
    depth = 0;
    tg__tape_detach_outputs();
    graph_free();
    for (chunk *c = first_chunk, *next; c; c = next) {
        next = c->next;
        TG_UNPOISON(c->data, c->size);
        free(c->data);
        free(c);
    }
    first_chunk = current = NULL;
    free_blocks = NULL;
    total_used = 0;
    innermost = NULL;
    newest_tensor = NULL;
    tg__tape_rewind(NULL);
    tg__thread_scratch_release();
}

void tg_release_thread_memory(void)
{
    if (depth > 0) {
        tg_error("tg_release_thread_memory: %d scope(s) still open", depth);
        return;
    }
    tg__thread_memory_free();
}

tg_tensor *tg_keep(const tg_tensor *t)
{
    if (!tg__check("tg_keep", t)) return NULL;
    tg_tensor *kept = tg__new_persistent("tg_keep", t->dtype, t->ndim, t->shape);
    if (!kept) return NULL;
    bool was = tg_set_grad_enabled(false);
    tg_copy_(kept, t);
    tg_set_grad_enabled(was);
    return kept;
}

/* --- the temporaries of graphs recorded outside any scope ---------------------
 * An op built from other ops that records a graph outside any scope makes
 * persistent temporaries that its nodes read in backward, and hands back
 * only its results. Between the outermost such op's tg__autoscope and its
 * keep, each persistent header made on this thread goes on the graph list
 * (newest first, doubly linked, so that a header leaves it at once),
 * pending; the keep takes the results off and marks the rest the graph's.
 * The pending headers are always the newest on the list, the current
 * bracket's; those no node reads are freed there and then.
 *
 * The base-level tape also keeps what its nodes read (base_reads, counted
 * by tg_record): tg_free of such a tensor puts it on the freed list. When a
 * backward releases the last node that reads a graph's temporary or a freed
 * tensor, it moves to the dying list, freed at the end of that backward;
 * tg_release_thread_memory frees all three lists' tensors with the tape. A
 * keep missed on some path would leave headers pending until then, which
 * takes them off: the caller's, as before, never freed behind its back.
 *
 * A graph recorded inside a scope counts no references, for speed: a
 * tg_free while a scope is open looks through the open scopes instead
 * (tg__scope_frees_later), and a tensor that a node or a header there uses
 * goes on the scope list, freed when the outermost scope ends. A dying
 * tensor that an open scope uses (read by both kinds of graph) moves there
 * too. */
static struct tg_scope graph_token; /* never written: only its address is used */
static _Thread_local bool graph_open; /* between the outermost op's tg__autoscope and keep */
static _Thread_local tg_tensor *graph_newest, *freed_newest, *dying_newest, *scope_freed_newest;

#define PREV(t) (((tg__persistent_header *)(t))->graph_prev)
#define NEXT(t) (((tg__persistent_header *)(t))->graph_next)

static tg_tensor **list_of(uint8_t state)
{
    switch (state) {
    case TG__GRAPH_PENDING:
    case TG__GRAPH_OWNED: return &graph_newest;
    case TG__GRAPH_FREED: return &freed_newest;
    case TG__GRAPH_DYING: return &dying_newest;
    case TG__GRAPH_SCOPE: return &scope_freed_newest;
    default: return NULL;
    }
}

static void push(tg_tensor *t, uint8_t state)
{
    tg_tensor **head = list_of(state);
    PREV(t) = NULL;
    NEXT(t) = *head;
    if (*head) PREV(*head) = t;
    *head = t;
    t->graph_state = state;
}

void tg__graph_unlink(tg_tensor *t)
{
    tg_tensor **head = list_of(t->graph_state);
    if (!head) return;
    if (PREV(t)) NEXT(PREV(t)) = NEXT(t);
    else *head = NEXT(t);
    if (NEXT(t)) PREV(NEXT(t)) = PREV(t);
    PREV(t) = NEXT(t) = NULL;
    t->graph_state = TG__GRAPH_NONE;
}

void tg__graph_register(tg_tensor *t)
{
    if (graph_open) push(t, TG__GRAPH_PENDING);
}

/* A freed tensor or a graph's temporary whose one reader left is the
 * unreleased node that made it: nothing can send that node a gradient any
 * more (nobody holds its output, no node reads it), so it lets go of what
 * it reads, as PyTorch's graph goes with its last reference. Long chains
 * stop at a depth and wait for tg_release_thread_memory. A graph of an
 * open scope, which counts no references, may still read the output and
 * send the node a gradient: then the drop waits for the outermost scope's
 * end (drops_wait). */
static _Thread_local int drop_depth;
static _Thread_local bool drops_wait;

static bool open_scopes_use(const tg_tensor *t, bool pass_headers);

static void drop_if_unreachable(tg_tensor *t)
{
    bool ours = t->graph_state == TG__GRAPH_FREED || t->graph_state == TG__GRAPH_OWNED;
    if (!ours || TG__BASE_READS(t) != 1 || !t->node || t->node->out != t || !t->node->base || drop_depth > 1000)
        return;
    if (open_scopes_use(t, false)) {
        drops_wait = true;
        return;
    }
    drop_depth++;
    tg__tape_drop(t->node);
    drop_depth--;
}

void tg__graph_free_later(tg_tensor *t)
{
    /* Nothing reads a freed leaf's .grad: it goes now (a later backward
     * through the graph makes a new one, freed with the header). */
    if (t->grad) tg_free(t->grad);
    t->grad = NULL;
    tg__graph_unlink(t);
    push(t, TG__GRAPH_FREED);
    drop_if_unreachable(t);
    /* During a pass (a hook's tg_free) its leaves' gradients are committed
     * last: the end of the pass frees what is dying. */
    if (tg__in_pass()) return;
    tg__graph_sweep();
    tg__base_trim();
}

void tg__graph_unread(tg_tensor *t)
{
    if (TG__BASE_READS(t) == 0) return;
    if (--TG__BASE_READS(t) > 0) {
        drop_if_unreachable(t);
        return;
    }
    if (t->graph_state != TG__GRAPH_OWNED && t->graph_state != TG__GRAPH_FREED) return;
    /* The dying are out of the set of live tensors, as the freed are. */
    bool live = t->graph_state == TG__GRAPH_OWNED;
    tg__graph_unlink(t);
    if (live) tg__live_remove(t);
    push(t, TG__GRAPH_DYING);
}

/* Free a listed header (the freed and the dying left the set of live
 * tensors already). */
static void free_listed(tg_tensor *t)
{
    bool live = t->graph_state == TG__GRAPH_OWNED || t->graph_state == TG__GRAPH_PENDING;
    if (!live || tg__live_remove(t)) tg__free_header(t);
    else tg__graph_unlink(t);
}

/* Whether the open scopes use t's storage: a node recorded since the
 * outermost began that a backward can still run (its output, an input or
 * a saved tensor), a header made in them (a view: scope headers borrow
 * their storage), or the running pass, which adds into t's pass gradient.
 * A released node never runs again and lets go, as a base-level one does
 * (tg_free after the backward frees at once); a leaf's hook node forgets
 * the leaf when it is freed (tg__tape_forget_leaf). The persistent
 * tensors the nodes walked read are all alive: those freed meanwhile are
 * on the scope list. */
static bool open_scopes_use(const tg_tensor *t, bool pass_headers)
{
    if (depth == 0 || ending) return false;
    if (t->pass_grad) return true;
    /* The running pass's own scope (and those of its hooks) records no
     * node and keeps nothing past the pass: only the scopes outside it,
     * but for a tg_free from a hook, whose views made in the pass's scope
     * (headers that borrow t's storage) it may read before it returns. */
    int outside = tg__pass_depth() > 0 && !pass_headers ? tg__pass_depth() - 1 : depth;
    if (outside == 0) return false;
    const tg_scope *outermost = innermost;
    const tg_tensor *newest = newest_tensor;
    for (; outermost->depth > outside; outermost = outermost->outer) newest = outermost->mark_tensors;
    while (outermost->outer) outermost = outermost->outer;
    const tg_storage *s = t->storage;
    /* Every use counts, values read or not: a backward also writes an
     * input's gradient through its header. */
    for (const tg_node *n = tg__tape_tail(); n && n != outermost->mark_tape; n = n->prev)
        if (!n->released && n->backward && tg__node_uses(n, s, false)) return true;
    for (const tg_tensor *h = newest; h && h != outermost->mark_tensors; h = h->scope_prev)
        if (h->storage == s) return true;
    return false;
}

bool tg__scope_frees_later(tg_tensor *t)
{
    if (!open_scopes_use(t, true)) return false;
    tg__graph_unlink(t);
    push(t, TG__GRAPH_SCOPE);
    return true;
}

void tg__graph_sweep(void)
{
    /* A tensor both a base-level graph and an open scope's read waits for
     * the scope. */
    while (dying_newest)
        if (!tg__scope_frees_later(dying_newest)) free_listed(dying_newest);
}

/* Drop what can be of the list at head. A drop takes t off the list, and
 * may take others: from the top again. */
static void drop_listed(tg_tensor **head)
{
    for (tg_tensor *t = *head, *next; t; t = list_of(t->graph_state) == head ? next : *head) {
        next = NEXT(t);
        drop_if_unreachable(t);
    }
}

/* The outermost scope ended: nothing of a scope uses the tensors freed
 * while it was open any more, nor the outputs of the base-level nodes
 * whose drop waited for it. */
static void scope_freed_free(void)
{
    while (scope_freed_newest) tg__free_header(scope_freed_newest);
    if (!drops_wait) return;
    drops_wait = false;
    drop_listed(&freed_newest);
    drop_listed(&graph_newest);
    tg__graph_sweep();
    tg__base_trim();
}

static int64_t length(tg_tensor *t)
{
    int64_t n = 0;
    for (; t; t = NEXT(t)) n++;
    return n;
}

int64_t tg__graph_held(void)
{
    return length(graph_newest) + length(freed_newest) + length(dying_newest) + length(scope_freed_newest);
}

static void graph_end(int n, tg_tensor *const *results)
{
    if (!graph_open) return;
    graph_open = false;
    for (tg_tensor *t = graph_newest, *next; t && t->graph_state == TG__GRAPH_PENDING; t = next) {
        next = NEXT(t);
        bool result = false;
        for (int k = 0; k < n && !result; k++) result = results[k] == t;
        if (result) {
            tg__graph_unlink(t);
            continue;
        }
        t->graph_state = TG__GRAPH_OWNED;
        /* A temporary no node reads (a weight's transposed copy, say) is
         * nobody's already. */
        if (TG__BASE_READS(t) == 0) free_listed(t);
    }
}

/* tg_release_thread_memory, once the tape forgot its references: the
 * graph's temporaries and the tensors freed while it read them go with it;
 * headers left pending by a missed keep are the caller's again. */
static void graph_free(void)
{
    for (tg_tensor *t = graph_newest, *next; t; t = next) {
        next = NEXT(t);
        if (t->graph_state == TG__GRAPH_OWNED) free_listed(t);
        else tg__graph_unlink(t);
    }
    while (freed_newest) free_listed(freed_newest);
    tg__graph_sweep();
    scope_freed_free();
    graph_open = false;
}

/* Whether an op given these inputs records a node. */
static bool records(int n, tg_tensor *const *inputs) { return tg_is_grad_enabled() && tg__any_requires_grad(n, inputs); }

bool tg__bracket_wanted(bool graph_only, int n, tg_tensor *const *inputs)
{
    if (depth > 0 || graph_open) return false;
    return !graph_only || records(n, inputs);
}

tg_scope *tg__autoscope(int n, tg_tensor *const *inputs)
{
    if (depth > 0) return NULL;
    /* Inside another op's bracket everything is that op's already. */
    if (graph_open) return NULL;
    if (!records(n, inputs)) {
        tg_scope *s = scope_open();
        if (s) return s;
        /* Out of memory for a scope: the op's temporaries still must not
         * be left to the caller, so they go with the base-level tape (and
         * the op goes on: no message, which would report a failure to the
         * error handler). */
    }
    graph_open = true;
    return &graph_token;
}

int tg__autoscope_keep_n(tg_scope *s, int n, tg_tensor **results)
{
    if (!s) return 0;
    if (s == &graph_token) {
        graph_end(n, results);
        return 0;
    }
    /* All the results or none: a failure keeps nothing. */
    int status = 0;
    for (int k = 0; k < n; k++) {
        tg_tensor *kept = results[k] && status == 0 ? tg_keep(results[k]) : NULL;
        if (results[k] && !kept) status = -1;
        results[k] = kept;
    }
    tg_scope_end(s);
    for (int k = 0; status < 0 && k < n; k++) {
        tg_free(results[k]);
        results[k] = NULL;
    }
    return status;
}

tg_tensor *tg__autoscope_keep2(tg_scope *s, tg_tensor *result, tg_tensor **second)
{
    tg_tensor *results[2] = {result, second ? *second : NULL};
    /* A failed op hands back neither result. */
    if (!result) results[1] = NULL;
    tg__autoscope_keep_n(s, 2, results);
    if (second) *second = results[0] ? results[1] : NULL;
    return results[0];
}

tg_tensor *tg__autoscope_keep(tg_scope *s, tg_tensor *result) { return tg__autoscope_keep2(s, result, NULL); }

tg_scope *tg_op_begin(int n, tg_tensor *const *inputs)
{
    if (n < 0 || (n > 0 && !inputs)) n = 0;
    return tg__autoscope(n, inputs);
}

tg_tensor *tg_op_end(tg_scope *s, tg_tensor *result)
{
    /* In the op's own scope a result that requires grad was recorded from
     * an input tg_op_begin was not given: its copy would cut the graph. */
    if (s && s != &graph_token && result && result->requires_grad) {
        tg__autoscope_keep(s, NULL);
        return tg_error("tg_op_end: the result requires grad, but no input given to tg_op_begin does "
                        "(give it every tensor the function reads)");
    }
    return tg__autoscope_keep(s, result);
}

/* No scope is open and no op is between its bracket's two ends: then
 * nothing above the floor belongs to anyone but the tape. */
bool tg__base_can_rewind(void) { return depth == 0 && !graph_open && !newest_tensor; }

void tg__base_rewind(void) { arena_rewind(base_floor.arena, 0); }
