/* A steady training loop makes no calls to malloc: after the first
 * iterations every tensor, tape node and gradient comes from the scope's
 * arena, optimizer state exists already, and GEMM keeps its packing
 * buffers. This executable counts the calls by defining malloc and its
 * siblings over glibc's (so it is built without sanitizers, which replace
 * them themselves). A BLAS build runs it with OpenBLAS on one thread
 * (tests/meson.build): its threaded driver allocates at every call. */
#include "support.h"

#include <stdatomic.h>
#include <stdlib.h>

extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t count, size_t size);
extern void *__libc_realloc(void *p, size_t size);
extern void *__libc_memalign(size_t alignment, size_t size);

static atomic_long allocations;

void *malloc(size_t size)
{
    atomic_fetch_add(&allocations, 1);
    return __libc_malloc(size);
}

void *calloc(size_t count, size_t size)
{
    atomic_fetch_add(&allocations, 1);
    return __libc_calloc(count, size);
}

void *realloc(void *p, size_t size)
{
    atomic_fetch_add(&allocations, 1);
    return __libc_realloc(p, size);
}

void *aligned_alloc(size_t alignment, size_t size)
{
    atomic_fetch_add(&allocations, 1);
    return __libc_memalign(alignment, size);
}

int posix_memalign(void **out, size_t alignment, size_t size)
{
    atomic_fetch_add(&allocations, 1);
    *out = __libc_memalign(alignment, size);
    return *out ? 0 : 12; /* ENOMEM */
}

/* A 2-layer bidirectional LSTM, a linear head, MSE and Adam: the loop every
 * recurrent model runs. */
static void test_training_loop_allocates_nothing(void **state)
{
    (void)state;
    tg_manual_seed(3);
    tg_lstm *lstm = tg_lstm_new(&(tg_lstm_config){.input_size = 8, .hidden_size = 128, .num_layers = 2,
                                                  .bidirectional = true, .batch_first = true});
    tg_linear_layer *head = tg_linear_layer_new(256, 1, true, TG_F32);
    tg_params params = tg_params_new();
    assert_int_equal(tg_rnn_params(lstm, &params, "lstm"), 0);
    assert_int_equal(tg_linear_layer_params(head, &params, "head"), 0);
    tg_adam_config adam = tg_adam_defaults();
    tg_optim *opt = tg_adam(&params, 1, &adam);
    tg_scope *data = tg_scope_begin();
    tg_tensor *x = tg_keep(tg_randn(TG_F32, 3, (int64_t[]){4, 12, 8}, 0, 1));
    tg_tensor *y = tg_keep(tg_randn(TG_F32, 3, (int64_t[]){4, 12, 1}, 0, 1));
    tg_scope_end(data);
    long before = 0;
    double first = 0, last = 0;
    for (int step = 0; step < 60; step++) {
        if (step == 10) before = atomic_load(&allocations);
        tg_scope *s = tg_scope_begin();
        tg_rnn_output out;
        tg_lstm_forward(lstm, x, NULL, NULL, NULL, &out);
        tg_tensor *loss = tg_mse_loss(tg_linear_layer_forward(head, out.output), y, TG_REDUCTION_MEAN);
        tg_optim_zero_grad(opt);
        tg_backward(loss, NULL);
        tg_optim_step(opt);
        last = tg_item(loss);
        if (step == 0) first = last;
        tg_scope_end(s);
    }
    assert_int_equal(atomic_load(&allocations) - before, 0);
    assert_true(last < first);
    tg_optim_free(opt);
    tg_params_free(&params);
    tg_rnn_free(lstm);
    tg_linear_layer_free(head);
    tg_free(x);
    tg_free(y);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_training_loop_allocates_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
