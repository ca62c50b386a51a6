/* Parameters: persistent leaves with PyTorch state_dict names.
 *
 * A layer lists its parameters into a tg_params collection under a prefix;
 * a user model made of several layers lists all of them under prefixes
 * ("encoder.weight_ih_l0"). Optimizers, gradient clipping and serialization
 * take the collection. The collection holds pointers: it does not own the
 * tensors (their layers do). Each entry has a group number (0 by default)
 * that optimizers use for per-group hyper-parameters, e.g. no weight decay
 * on biases. */
#ifndef TG_PARAMS_H
#define TG_PARAMS_H

#include <tapegrad/tensor.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TG_PARAM_NAME_MAX 128

typedef struct {
    char name[TG_PARAM_NAME_MAX];
    tg_tensor *tensor;
    int group;
} tg_param;

typedef struct {
    tg_param *items;
    int count, capacity;
} tg_params;

/* An empty collection (no allocation until the first add). */
tg_params tg_params_new(void);
/* Append tensor as "prefix.name" (just "name" when prefix is NULL or "").
 * Fails (-1) on NULL, a duplicate name, or a name longer than the limit. */
int tg_params_add(tg_params *p, const char *prefix, const char *name, tg_tensor *tensor);
/* Append every entry of src under prefix ("prefix." + its name), keeping groups. */
int tg_params_extend(tg_params *dst, const char *prefix, const tg_params *src);
/* The tensor named name, or NULL (no message). */
tg_tensor *tg_params_find(const tg_params *p, const char *name);
/* Set the group of every entry whose name ends with suffix (e.g. "bias" or
 * ".bias"); returns how many changed. */
int tg_params_set_group(tg_params *p, const char *suffix, int group);
/* Total number of scalars (PyTorch's sum(p.numel() for p in parameters())). */
int64_t tg_params_numel(const tg_params *p);
/* Zero every parameter's .grad (kept allocated). */
void tg_params_zero_grad(const tg_params *p);
/* Free the list (not the tensors). */
void tg_params_free(tg_params *p);

/* --- making parameters -----------------------------------------------------
 * A new persistent float leaf that requires grad, whatever scope is open
 * (free it with tg_free), filled from the library's seeded generator:
 * uniform in [low, high), normal(mean, std), or the constant value.
 * NULL with a message for a non-float dtype, a negative size, low > high,
 * an infinite high - low (as torch's uniform_) or std < 0. */
tg_tensor *tg_param_uniform(tg_dtype dtype, int ndim, const int64_t *shape, double low, double high);
tg_tensor *tg_param_normal(tg_dtype dtype, int ndim, const int64_t *shape, double mean, double std);
tg_tensor *tg_param_full(tg_dtype dtype, int ndim, const int64_t *shape, double value);

#ifdef __cplusplus
}
#endif

#endif
