/* Model state files: save a collection, load it back by name, strictly and
 * not, with every kind of mismatch refused without touching a parameter. */
#include "files.h"

#include <tapegrad/state.h>

/* An LSTM + Linear model's parameters, as the sine demo has them. */
typedef struct {
    tg_lstm *lstm;
    tg_linear_layer *head;
    tg_params params;
} model;

static model model_new(uint64_t seed, int64_t hidden, tg_dtype dtype)
{
    tg_manual_seed(seed);
    model m = {tg_lstm_new(&(tg_lstm_config){.input_size = 2, .hidden_size = hidden, .dtype = dtype}),
               tg_linear_layer_new(hidden, 1, true, dtype), tg_params_new()};
    assert_int_equal(tg_rnn_params(m.lstm, &m.params, "lstm"), 0);
    assert_int_equal(tg_linear_layer_params(m.head, &m.params, "head"), 0);
    return m;
}

static void model_free(model *m)
{
    tg_rnn_free(m->lstm);
    tg_linear_layer_free(m->head);
    tg_params_free(&m->params);
}

/* Persistent copies of every parameter, to check that nothing changed. */
static tg_tensor **snapshot(const tg_params *p)
{
    tg_tensor **copies = calloc((size_t)p->count, sizeof *copies);
    for (int i = 0; i < p->count; i++) copies[i] = tg_keep(p->items[i].tensor);
    return copies;
}

static void assert_unchanged(const tg_params *p, tg_tensor **copies)
{
    for (int i = 0; i < p->count; i++) {
        assert_same_tensor(p->items[i].tensor, copies[i]);
        tg_free(copies[i]);
    }
    free(copies);
}

static void assert_same_params(const tg_params *a, const tg_params *b)
{
    assert_int_equal(a->count, b->count);
    for (int i = 0; i < a->count; i++) {
        assert_string_equal(a->items[i].name, b->items[i].name);
        assert_same_tensor(a->items[i].tensor, b->items[i].tensor);
    }
}

static void test_save_load(void **state)
{
    (void)state;
    model a = model_new(1, 5, TG_F32), b = model_new(2, 5, TG_F32);
    const tg_metadata_item meta[] = {{"model", "LSTM(2, 5) + Linear(5, 1)"}};
    assert_int_equal(tg_state_save(scratch("m.safetensors"), &a.params, 1, meta), 0);
    tg_state_keys keys;
    assert_int_equal(tg_state_load(scratch("m.safetensors"), &b.params, true, &keys), 0);
    assert_int_equal(keys.n_missing + keys.n_unexpected, 0);
    tg_state_keys_free(&keys);
    assert_same_params(&a.params, &b.params);
    /* The file lists PyTorch's names in the collection's order. */
    tg_safetensors *f = tg_safetensors_open(scratch("m.safetensors"));
    const char *names[] = {"lstm.weight_ih_l0", "lstm.weight_hh_l0", "lstm.bias_ih_l0", "lstm.bias_hh_l0", "head.weight",
                           "head.bias"};
    assert_int_equal(tg_safetensors_count(f), 6);
    for (int i = 0; i < 6; i++) assert_string_equal(tg_safetensors_entry_at(f, i)->name, names[i]);
    assert_string_equal(tg_safetensors_metadata(f, "model"), meta[0].value);
    /* A sub-collection loads from its prefix. */
    tg_params head = tg_params_new();
    tg_linear_layer *other = tg_linear_layer_new(5, 1, true, TG_F32);
    tg_linear_layer_params(other, &head, NULL);
    assert_int_equal(tg_state_load_from(f, "head.", &head, true, NULL), 0);
    assert_same_tensor(other->weight, a.head->weight);
    assert_same_tensor(other->bias, a.head->bias);
    tg_safetensors_close(f);
    tg_params_free(&head);
    tg_linear_layer_free(other);
    model_free(&a);
    model_free(&b);
}

/* Strict loading lists every offending name, as load_state_dict does, and
 * changes nothing. */
static void test_strict_mismatches(void **state)
{
    (void)state;
    model a = model_new(1, 5, TG_F32);
    tg_tensor *extra = tg_param_full(TG_F32, 1, (int64_t[]){3}, 7.0);
    tg_params_add(&a.params, NULL, "extra.scale", extra);
    assert_int_equal(tg_state_save(scratch("m.safetensors"), &a.params, 0, NULL), 0);

    /* b has no extra.scale but has two parameters a lacks. */
    model b = model_new(2, 5, TG_F32);
    tg_tensor *gain = tg_param_full(TG_F32, 1, (int64_t[]){1}, 1.0), *shift = tg_param_full(TG_F32, 1, (int64_t[]){1}, 0.0);
    tg_params_add(&b.params, "norm", "gain", gain);
    tg_params_add(&b.params, "norm", "shift", shift);
    tg_tensor **before = snapshot(&b.params);
    tg_state_keys keys;
    assert_int_equal(tg_state_load(scratch("m.safetensors"), &b.params, true, &keys), -1);
    assert_error_contains("tg_state_load: Error(s) in loading state_dict from '");
    assert_error_contains("m.safetensors': Missing key(s) in state_dict: \"norm.gain\", \"norm.shift\". Unexpected key(s) in "
                          "state_dict: \"extra.scale\".");
    assert_int_equal(keys.n_missing, 2);
    assert_string_equal(keys.missing[1], "norm.shift");
    assert_int_equal(keys.n_unexpected, 1);
    assert_string_equal(keys.unexpected[0], "extra.scale");
    tg_state_keys_free(&keys);
    assert_unchanged(&b.params, before);

    /* Non-strict: the common names load, the lists come back. */
    assert_int_equal(tg_state_load(scratch("m.safetensors"), &b.params, false, &keys), 0);
    assert_int_equal(keys.n_missing, 2);
    assert_int_equal(keys.n_unexpected, 1);
    tg_state_keys_free(&keys);
    assert_same_tensor(b.lstm->weights[0], a.lstm->weights[0]); /* weight_ih_l0 */
    assert_near(tg_item(gain), 1.0, 0);

    /* Shapes and dtypes must agree even when not strict (PyTorch's rule for
     * shapes); every mismatch is named. */
    model wide = model_new(3, 6, TG_F32), f64 = model_new(3, 5, TG_F64);
    for (int strict = 0; strict < 2; strict++) {
        before = snapshot(&wide.params);
        assert_int_equal(tg_state_load(scratch("m.safetensors"), &wide.params, strict, NULL), -1);
        assert_error_contains("size mismatch for lstm.weight_ih_l0: copying a param with shape [20,2] from checkpoint, the "
                              "shape in current model is [24,2]. size mismatch for lstm.weight_hh_l0: copying a param with "
                              "shape [20,5] from checkpoint, the shape in current model is [24,6].");
        assert_unchanged(&wide.params, before);
        before = snapshot(&f64.params);
        assert_int_equal(tg_state_load(scratch("m.safetensors"), &f64.params, strict, NULL), -1);
        assert_error_contains("dtype mismatch for lstm.weight_ih_l0: the checkpoint holds F32, the parameter in current model "
                              "is float64. dtype mismatch for lstm.weight_hh_l0");
        assert_error_contains("dtype mismatch for head.bias");
        assert_unchanged(&f64.params, before);
    }
    tg_free(extra);
    tg_free(gain);
    tg_free(shift);
    model_free(&a);
    model_free(&b);
    model_free(&wide);
    model_free(&f64);
}

/* Loading writes the parameters in place: a graph recorded before the load
 * is refused by backward, as after tg_copy_. */
static void test_load_is_an_inplace_write(void **state)
{
    (void)state;
    model a = model_new(1, 5, TG_F32);
    assert_int_equal(tg_state_save(scratch("m.safetensors"), &a.params, 0, NULL), 0);
    tg_scope *s = tg_scope_begin();
    tg_tensor *w = a.head->weight;
    tg_tensor *loss = tg_sum(tg_mul(w, w), 0, NULL, false);
    assert_int_equal(tg_state_load(scratch("m.safetensors"), &a.params, true, NULL), 0);
    assert_int_equal(tg_backward(loss, NULL), -1);
    assert_error_contains("modified by an inplace operation");
    tg_scope_end(s);
    model_free(&a);
}

static void test_bad_input(void **state)
{
    (void)state;
    model a = model_new(1, 5, TG_F32);
    tg_state_keys keys = {.n_missing = 99};
    assert_int_equal(tg_state_load(scratch("missing.safetensors"), &a.params, true, &keys), -1);
    assert_error_contains("No such file or directory");
    assert_int_equal(keys.n_missing, 0);
    assert_int_equal(tg_state_load_from(NULL, NULL, &a.params, true, NULL), -1);
    assert_error_contains("tg_state_load: NULL file or collection");
    assert_int_equal(tg_state_save(scratch("m.safetensors"), NULL, 0, NULL), -1);
    assert_error_contains("tg_state_save: NULL collection");
    tg_state_keys_free(NULL);

    /* A parameter whose scope ended is refused before anything is read. */
    assert_int_equal(tg_state_save(scratch("m.safetensors"), &a.params, 0, NULL), 0);
    tg_scope *s = tg_scope_begin();
    tg_params dead = tg_params_new();
    tg_params_add(&dead, NULL, "head.bias", tg_zeros(TG_F32, 1, (int64_t[]){1}));
    tg_scope_end(s);
    assert_int_equal(tg_state_load(scratch("m.safetensors"), &dead, false, NULL), -1);
    assert_error_contains("tg_state_load: parameter 'head.bias' was used after its scope ended");
    assert_int_equal(tg_state_save(scratch("m.safetensors"), &dead, 0, NULL), -1);
    assert_error_contains("tensor 'head.bias' was used after its scope ended");
    /* A collection is a public struct: an entry may hold NULL. */
    dead.items[0].tensor = NULL;
    tg_clear_error();
    assert_int_equal(tg_state_load(scratch("m.safetensors"), &dead, false, NULL), -1);
    assert_error_contains("tg_state_load: parameter 'head.bias' is NULL");
    tg_params_free(&dead);

    /* A parameter of a dtype tapegrad cannot read from the file. */
    write_file(scratch("i32.safetensors"), "{\"head.bias\":{\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4);
    tg_params head = tg_params_new();
    tg_params_add(&head, NULL, "head.bias", a.head->bias);
    assert_int_equal(tg_state_load(scratch("i32.safetensors"), &head, true, NULL), -1);
    assert_error_contains("dtype mismatch for head.bias: the checkpoint holds I32");
    tg_params_free(&head);
    model_free(&a);
}

/* F16 and BF16 files load into float32 parameters. */
static void test_half_into_float(void **state)
{
    (void)state;
    tg_tensor *p = tg_param_full(TG_F32, 2, (int64_t[]){11, 1}, 0.0), *q = tg_param_full(TG_F32, 1, (int64_t[]){11}, 0.0);
    tg_params params = tg_params_new();
    tg_params_add(&params, NULL, "half", p);
    tg_params_add(&params, NULL, "bfloat", q);
    tg_state_keys keys;
    assert_int_equal(tg_state_load(golden_file("dtypes.safetensors"), &params, false, &keys), 0);
    assert_int_equal(keys.n_unexpected, 10); /* the file's other tensors */
    tg_state_keys_free(&keys);
    tg_scope *s = tg_scope_begin();
    tg_safetensors *f = tg_safetensors_open(golden_file("dtypes.safetensors"));
    assert_same_tensor(p, tg_safetensors_get(f, tg_safetensors_find(f, "half_as_f32")));
    assert_same_tensor(q, tg_safetensors_get(f, tg_safetensors_find(f, "bfloat_as_f32")));
    tg_safetensors_close(f);
    tg_scope_end(s);
    tg_params_free(&params);
    tg_free(p);
    tg_free(q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_save_load, scratch_setup, scratch_teardown),
        cmocka_unit_test_setup_teardown(test_strict_mismatches, scratch_setup, scratch_teardown),
        cmocka_unit_test_setup_teardown(test_load_is_an_inplace_write, scratch_setup, scratch_teardown),
        cmocka_unit_test_setup_teardown(test_bad_input, scratch_setup, scratch_teardown),
        cmocka_unit_test_setup_teardown(test_half_into_float, scratch_setup, scratch_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
