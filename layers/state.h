/* Model state files: a tg_params collection saved to and loaded from a
 * safetensors file by name, like PyTorch's state_dict, so that
 *
 *     tg_state_save("model.safetensors", &params, 0, NULL);
 *
 * writes a file that torch.nn.Module.load_state_dict(strict=True) takes
 * (after reading it with safetensors.torch.load_file, or the ten lines of
 * json and struct in tests/golden/safetensors_py.py), and
 *
 *     tg_state_load("model.safetensors", &params, true, NULL);
 *
 * loads one written by PyTorch into layers built with the same
 * configuration.
 *
 * Loading is checked as a whole before any value is copied: in strict
 * mode every parameter must have a tensor in the file and every tensor in
 * the file a parameter; in both modes each matched pair must agree in shape
 * and dtype (a file's F16 and BF16 load into float32 parameters). On a
 * mismatch the call fails with PyTorch's message listing every offending
 * name ("Missing key(s) in state_dict: ...", "size mismatch for ...") and
 * changes no parameter. The message stops at the 1,023 characters that
 * tg_last_error holds; keys, when given, lists every missing and
 * unexpected name however many there are. Values are then read from the
 * file straight into the parameters; an I/O error during that copy (a disk
 * error, the file cut short since it was checked) is reported and can
 * leave them partly loaded. */
#ifndef TG_STATE_H
#define TG_STATE_H

#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

#include <tapegrad/params.h>
#include <tapegrad/safetensors.h>

/* Write every parameter of params under its collection name, with
 * n_metadata strings, atomically (see tg_safetensors_save). Returns 0 or -1. */
int tg_state_save(const char *path, const tg_params *params, int n_metadata, const tg_metadata_item *metadata);

/* The names load_state_dict(strict=False) returns: parameters with no
 * tensor in the file, and tensors in the file with no parameter. */
typedef struct {
    int n_missing, n_unexpected;
    char **missing, **unexpected;
} tg_state_keys;

/* Load path into params by name (see above). keys may be NULL; when given
 * it is filled whether the call succeeds or not, and freed with
 * tg_state_keys_free. Returns 0, or -1 with a message. */
int tg_state_load(const char *path, tg_params *params, bool strict, tg_state_keys *keys);
/* The same from an open file, looking only at the tensors whose names start
 * with prefix (NULL or "" for all), compared with the prefix removed: a
 * model saved inside a checkpoint as "model.lstm.weight_ih_l0" loads with
 * prefix "model.". */
int tg_state_load_from(tg_safetensors *f, const char *prefix, tg_params *params, bool strict, tg_state_keys *keys);
/* Free the name lists. NULL is ignored. */
void tg_state_keys_free(tg_state_keys *keys);

#ifdef __cplusplus
}
#endif

#endif
