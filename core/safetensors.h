/* safetensors files: named tensors and string metadata in the Hugging Face
 * format that PyTorch users exchange weights in.
 *
 * Layout: an 8-byte little-endian u64 N, then N bytes of UTF-8 JSON
 *     {"lstm.weight_ih_l0": {"dtype": "F32", "shape": [200, 1], "data_offsets": [0, 800]},
 *      ..., "__metadata__": {"key": "value", ...}}
 * (padded with spaces), then the data buffer: each tensor contiguous,
 * little-endian, row-major, at data_offsets relative to the buffer's start.
 *
 *     tg_safetensors *f = tg_safetensors_open("model.safetensors");
 *     if (!f) die(tg_last_error());
 *     for (int i = 0; i < tg_safetensors_count(f); i++) {
 *         const tg_safetensors_entry *e = tg_safetensors_entry_at(f, i);
 *         tg_tensor *t = tg_safetensors_get(f, i);     // F16/BF16 arrive as F32
 *         ...
 *     }
 *     tg_safetensors_close(f);
 *
 * A file is hostile until checked. tg_safetensors_open reads the header and
 * checks all of it before handing anything out: the header length against
 * the file size and a cap (TG_SAFETENSORS_MAX_HEADER), UTF-8, JSON
 * validity, nesting (the format needs three levels) and size (at most 2^22
 * values, some 400,000 tensors, so that parsing a hostile header cannot take
 * more than 1 GB), every key and dtype
 * name, shapes (whole numbers >= 0, at most TG_MAX_DIMS, whose product times
 * the dtype size equals end - begin without overflow), offsets inside the
 * buffer, sizes and offsets written as integers (digits only: 1.0, 1e0
 * and -0 are refused, as the Rust reader refuses them), no duplicate names, and tensors that tile the buffer exactly (no
 * overlap, no gap, nothing after the last). Each failure names the file,
 * the tensor and the byte offset (from the start of the file) of the
 * offending header entry or data. Names may not contain control characters
 * or NUL; the empty name is a name, which the format allows and both
 * reading and saving accept.
 *
 * Reading copies a tensor's bytes from the file straight into the
 * destination tensor (pread, no intermediate copy of the file), so loading
 * a large model needs the model's memory once. Every spec dtype is known to
 * the checks and listed by tg_safetensors_entry_at; tapegrad reads F32, F64
 * and I64 as themselves and F16 and BF16 into F32 (exactly: every half value
 * is a float). Big-endian hosts are not supported (the build refuses).
 *
 * Saving is atomic: the file is written under a temporary name in the same
 * directory ("<path>.tmp-<pid>-<n>", or a shorter one for a long name),
 * flushed, fsync'd and renamed over the target, so an error or a crash at
 * any point leaves the previous file as it was (a crash can leave the
 * temporary file behind). A file saved over keeps its permissions; a path
 * that is a symbolic link saves into the file the link names; a path that
 * names something other than a regular file (a device such as /dev/null, a
 * FIFO, a directory) is refused, as the rename would replace it. */
#ifndef TG_SAFETENSORS_H
#define TG_SAFETENSORS_H

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#include <tapegrad/tensor.h>

/* Largest header accepted (the reference implementation's cap). */
#define TG_SAFETENSORS_MAX_HEADER 100000000

/* A tensor and the name it has in a file. */
typedef struct {
    const char *name;
    tg_tensor *tensor;
} tg_named_tensor;

/* One "__metadata__" entry: two UTF-8 strings. */
typedef struct {
    const char *key;
    const char *value;
} tg_metadata_item;

/* --- writing --------------------------------------------------------------- */

/* Write n named tensors (F32, F64 or I64, any layout; their values are
 * written row-major) and n_metadata metadata strings to path, atomically.
 * Tensors appear in the header and the buffer in the given order; the
 * header is padded with spaces so that the buffer starts 8-byte aligned.
 * Fails (-1, the previous file untouched, no temporary file left) on NULL
 * or dead tensors, NULL, duplicate or non-UTF-8 names, "__metadata__" as a
 * tensor name, duplicate metadata keys, a path naming something other than
 * a regular file, or an I/O error, whose message names the path and the
 * system's reason ("No space left on device"). */
int tg_safetensors_save(const char *path, int n, const tg_named_tensor *tensors, int n_metadata,
                        const tg_metadata_item *metadata);

/* --- reading --------------------------------------------------------------- */

typedef struct tg_safetensors tg_safetensors;

/* What the header says about one tensor. */
typedef struct {
    const char *name;
    const char *dtype;         /* the file's dtype name: "F32", "BF16", "I32", ... */
    int ndim;
    int64_t shape[TG_MAX_DIMS];
    int64_t numel;
    int64_t offset, nbytes;    /* where its data sits, from the start of the file */
    bool readable;             /* F32, F64, I64, F16 or BF16 */
    tg_dtype read_dtype;       /* what reading it gives (F16, BF16 -> F32), if readable */
} tg_safetensors_entry;

/* Open path and check its header and layout (see above). NULL with a
 * message naming the file, tensor and byte offset if anything is wrong.
 * The file stays open until tg_safetensors_close. */
tg_safetensors *tg_safetensors_open(const char *path);
/* Close the file and free the handle; entries and metadata strings die
 * with it. NULL is ignored. */
void tg_safetensors_close(tg_safetensors *f);

/* The path given to open. */
const char *tg_safetensors_path(const tg_safetensors *f);
/* Number of tensors. */
int tg_safetensors_count(const tg_safetensors *f);
/* Tensor i (0 <= i < count) in the header's order, or NULL with a message. */
const tg_safetensors_entry *tg_safetensors_entry_at(const tg_safetensors *f, int i);
/* Index of the tensor called name, or -1 (no message). O(log count). */
int tg_safetensors_find(const tg_safetensors *f, const char *name);

/* Number of metadata entries. */
int tg_safetensors_metadata_count(const tg_safetensors *f);
/* Metadata entry i in the header's order, or NULL with a message. */
const tg_metadata_item *tg_safetensors_metadata_at(const tg_safetensors *f, int i);
/* The metadata value for key, or NULL (no message). */
const char *tg_safetensors_metadata(const tg_safetensors *f, const char *key);

/* Copy tensor i's values into dst, which must be contiguous with the
 * entry's shape and read_dtype (it may require grad: this is how
 * parameters are loaded; nothing is recorded). Returns 0, or -1 with a
 * message (a mismatch, an unreadable dtype, or an I/O error such as the
 * file having shrunk since it was opened, which can leave dst partly
 * written). */
int tg_safetensors_read_into(tg_safetensors *f, int i, tg_tensor *dst);
/* Tensor i as a new contiguous tensor of its read_dtype, in the current
 * scope (persistent outside any scope, as tg_empty). NULL with a message. */
tg_tensor *tg_safetensors_get(tg_safetensors *f, int i);

/* --- a whole file at once --------------------------------------------------- */

/* Every tensor and metadata entry of a file; the list owns its strings and
 * its (persistent) tensors. */
typedef struct {
    int count;
    tg_named_tensor *tensors;
    int n_metadata;
    tg_metadata_item *metadata;
} tg_safetensors_contents;

/* Read all of path into out (every tensor must be readable). Returns 0, or
 * -1 with a message and out empty. */
int tg_safetensors_load(const char *path, tg_safetensors_contents *out);
/* Free the tensors and strings and empty the list. NULL is ignored. */
void tg_safetensors_contents_free(tg_safetensors_contents *c);

#ifdef __cplusplus
}
#endif

#endif
