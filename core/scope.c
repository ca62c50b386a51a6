/* The arena behind scopes: a list of chunks with a bump pointer. A scope is
 * a mark (chunk, offset, tape tail); ending it rewinds to the mark and keeps
 * every chunk for reuse. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define CHUNK_MIN (4u << 20)
#define ALIGN 64
#define SCOPE_MAGIC 0x73636f70u

typedef struct chunk {
    struct chunk *next;
    size_t size, used;
    char *data;
} chunk;

struct tg_scope {
    uint32_t magic;
    int depth;
    chunk *mark_chunk;
    size_t mark_used;
    tg_node *mark_tape;
    tg_tensor *mark_tensors;
    size_t mark_total;
};

static _Thread_local chunk *first_chunk, *current;
static _Thread_local size_t total_used, chunk_allocs;
static _Thread_local int depth;
static _Thread_local tg_tensor *newest_tensor;

void tg__scope_register(tg_tensor *t)
{
    t->scope_prev = newest_tensor;
    newest_tensor = t;
}

int tg__scope_depth(void) { return depth; }

static chunk *chunk_new(size_t need)
{
    size_t size = need > CHUNK_MIN ? need : CHUNK_MIN;
    chunk *c = malloc(sizeof *c);
    if (!c) return NULL;
    c->data = aligned_alloc(ALIGN, (size + ALIGN - 1) / ALIGN * ALIGN);
    if (!c->data) {
        free(c);
        return NULL;
    }
    c->size = size;
    c->used = 0;
    c->next = NULL;
    chunk_allocs++;
    return c;
}

void *tg__arena_alloc(size_t nbytes)
{
    if (nbytes > SIZE_MAX / 2) return tg_error("tg_scope: out of memory allocating %zu bytes", nbytes);
    nbytes = (nbytes + ALIGN - 1) / ALIGN * ALIGN;
    if (!current) {
        first_chunk = current = chunk_new(nbytes);
        if (!current) return tg_error("tg_scope: out of memory allocating %zu bytes", nbytes);
    }
    /* Move on through the chunks kept from earlier iterations; make a new
     * one, inserted after the current, only when none of them fits. */
    while (current->size - current->used < nbytes) {
        chunk *next = current->next;
        if (next && next->size >= nbytes) {
            current = next;
            current->used = 0;
            continue;
        }
        chunk *c = chunk_new(nbytes);
        if (!c) return tg_error("tg_scope: out of memory allocating %zu bytes", nbytes);
        c->next = next;
        current->next = c;
        current = c;
    }
    void *p = current->data + current->used;
    current->used += nbytes;
    total_used += nbytes;
    return p;
}

tg_scope *tg_scope_begin(void)
{
    chunk *mark_chunk = current;
    size_t mark_used = current ? current->used : 0;
    size_t mark_total = total_used;
    tg_scope *s = tg__arena_alloc(sizeof *s);
    if (!s) return NULL;
    s->magic = SCOPE_MAGIC;
    s->depth = ++depth;
    s->mark_chunk = mark_chunk;
    s->mark_used = mark_used;
    s->mark_tape = tg__tape_tail();
    s->mark_tensors = newest_tensor;
    s->mark_total = mark_total;
    return s;
}

int tg_scope_end(tg_scope *s)
{
    if (!s || s->magic != SCOPE_MAGIC || s->depth > depth || s->depth < 1)
        return tg_fail("tg_scope_end: not an open scope of this thread");
    struct tg_scope mark = *s;
    /* Mark the scope's tensors dead, so that a pointer kept past the scope
     * fails tg__check instead of reading whatever reuses the memory. */
    for (tg_tensor *t = newest_tensor; t && t != mark.mark_tensors; t = t->scope_prev) t->magic = 0;
    newest_tensor = mark.mark_tensors;
    current = mark.mark_chunk ? mark.mark_chunk : first_chunk;
    if (current) current->used = mark.mark_chunk ? mark.mark_used : 0;
    total_used = mark.mark_total;
    depth = mark.depth - 1;
    tg__tape_rewind(mark.mark_tape);
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

void tg_release_thread_memory(void)
{
    if (depth > 0) {
        tg_error("tg_release_thread_memory: %d scope(s) still open", depth);
        return;
    }
    for (chunk *c = first_chunk, *next; c; c = next) {
        next = c->next;
        free(c->data);
        free(c);
    }
    first_chunk = current = NULL;
    total_used = 0;
    tg__tape_rewind(NULL);
}

tg_tensor *tg_keep(const tg_tensor *t)
{
    if (!tg__check("tg_keep", t)) return NULL;
    tg_tensor *kept = tg__new_persistent(t->dtype, t->ndim, t->shape);
    if (!kept) return NULL;
    bool was = tg_set_grad_enabled(false);
    tg_copy_(kept, t);
    tg_set_grad_enabled(was);
    return kept;
}

tg_scope *tg__autoscope(int n, tg_tensor *const *inputs)
{
    if (depth > 0 || (tg_is_grad_enabled() && tg__any_requires_grad(n, inputs))) return NULL;
    return tg_scope_begin();
}

tg_tensor *tg__autoscope_keep2(tg_scope *s, tg_tensor *result, tg_tensor **second)
{
    if (!s) return result;
    tg_tensor *kept = result ? tg_keep(result) : NULL;
    if (second && *second) *second = tg_keep(*second);
    tg_scope_end(s);
    return kept;
}

tg_tensor *tg__autoscope_keep(tg_scope *s, tg_tensor *result) { return tg__autoscope_keep2(s, result, NULL); }
