/* Data-parallel training over MPI (torch.nn.parallel.DistributedDataParallel
 * without the overlap of communication and backward).
 *
 * Every rank holds the whole model and takes its own share of each global
 * batch; the ranks average their gradients before the optimizer steps. With
 * a loss that is a mean over the batch, P ranks with batch B/P each follow
 * the trajectory of one process with batch B: the averaged gradient is the
 * mean over the B samples, summed in another order (rounding only).
 *
 *     tg_dist_init(&argc, &argv);                 // MPI_Init + MPI_COMM_WORLD
 *     ... model, params, optimizer ...
 *     tg_dist_broadcast_params(&params);          // rank 0's values everywhere
 *     tg_dist_sampler *s = tg_dist_sampler_new(n_train, tg_dist_rank(), tg_dist_world_size(),
 *                                              global_batch, seed, false);
 *     for (int epoch = 0; epoch < epochs; epoch++) {
 *         tg_dist_sampler_set_epoch(s, epoch);
 *         for (int64_t k = 0; k < tg_dist_sampler_num_batches(s); k++) {
 *             int64_t n = tg_dist_sampler_batch(s, k, max, idx);   // this rank's share
 *             tg_scope *scope = tg_scope_begin();
 *             tg_optim_zero_grad(opt);
 *             tg_backward(mean loss over the n samples, NULL);
 *             tg_dist_average_grads(&params);     // every rank: the global gradient
 *             tg_clip_grad_norm(&params, 1.0, 2.0, NULL);  // so this is the global norm
 *             tg_optim_step(opt);
 *             tg_scope_end(scope);
 *         }
 *         double totals[2] = {loss_sum, correct};
 *         tg_dist_sum(2, totals);                 // sums over all ranks, on every rank
 *     }
 *     tg_dist_finalize();                         // MPI_Finalize
 *
 * Clip after averaging: each rank's own gradient has a different norm, the
 * average is the one a single process would clip.
 *
 * Collective calls. Every function that talks to the other ranks
 * (broadcast, average, sum, barrier, setup and teardown) must be called by
 * every rank in the same order, from the thread that set up (MPI is
 * initialised with MPI_THREAD_FUNNELED; OpenMP threads never call MPI).
 * Before moving any data, every collective call exchanges which call it is
 * (ranks in different ones all fail with a message naming them, e.g.
 * "tg_dist_sum: the ranks called different collectives: tg_dist_barrier
 * on rank 0 but tg_dist_sum on rank 1"), and broadcast and average a
 * 64-bit hash of the parameter list (names, dtypes, shapes, requires_grad,
 * in order) and a flag saying whether the rank's own checks passed, so
 * that:
 *   - ranks whose lists differ all fail with the same message naming the
 *     first difference, e.g. "tg_dist_average_grads: the parameter lists
 *     differ between ranks: entry 2 is 'lstm.weight_hh_l0' float32 [32,8]
 *     on rank 0 but 'lstm.weight_hh_l0' float64 [32,8] on rank 1";
 *   - a rank whose own arguments are bad (a NULL or non-contiguous tensor)
 *     makes every rank fail with its message and rank;
 * never a hang, never a reduction of mismatched buffers.
 *
 * A rank that fails mid-run. The ranks wait for each other inside the
 * collective calls, so a rank that stops calling them would leave the others
 * waiting forever. Three ways out, the first two independent of the
 * launcher:
 *   - on a failure, call tg_dist_abort(tg_last_error()): it prints the
 *     message with the rank and ends every rank of the job (MPI_Abort);
 *   - or make every library error do that, with an error handler:
 *         static void abort_job(const char *message, void *user) { (void)user; tg_dist_abort(message); }
 *         tg_set_error_handler(abort_job, NULL);
 *   - a rank that exits with a non-zero status (or crashes) makes Open MPI's
 *     mpirun kill the other ranks ("mpirun detected that one or more
 *     processes exited with non-zero status"); other launchers need their
 *     own switch (Slurm: srun --kill-on-bad-exit).
 * An error inside MPI itself on the library's communicator (a lost peer)
 * goes to an MPI error handler that prints it with the rank and aborts the
 * job the same way.
 *
 * Checkpoints: every rank holds the same parameters and optimizer state, so
 * rank 0 alone writes them, and the others wait so that nobody reads a
 * half-written file:
 *     if (tg_dist_is_root()) save the checkpoint;
 *     tg_dist_barrier();
 * To resume, every rank loads the same file (or rank 0 loads it and
 * tg_dist_broadcast_params spreads the parameters).
 *
 * Identical bits on every rank: the averaged gradient must be the same on
 * every rank or the replicas drift apart. MPI_Allreduce gives every rank
 * the same result in Open MPI's built-in sum; calling
 * tg_dist_broadcast_params again resynchronises the parameters (not the
 * optimizer state) if a library did not.
 *
 * A build without MPI (meson option mpi disabled, or libopenmpi-dev
 * missing) keeps these functions: they fail with "tapegrad was built
 * without MPI", except the sampler, which is plain arithmetic and works in
 * every build (a single process uses it with rank 0 of world size 1 and
 * gets the same global batches). */
#ifndef TG_DIST_H
#define TG_DIST_H

#include <stdbool.h>
#include <stdint.h>

#include <tapegrad/params.h>

#ifdef __cplusplus
extern "C" {
#endif

/* True when tapegrad was built with MPI. */
bool tg_dist_available(void);

/* --- set-up and teardown ----------------------------------------------------
 * Two ways to start. tg_dist_init initialises MPI itself (MPI_Init_thread
 * with MPI_THREAD_FUNNELED, unless MPI is already initialised) and sets up
 * on MPI_COMM_WORLD; tg_dist_finalize tears down and calls MPI_Finalize if
 * tg_dist_init called MPI_Init. argc and argv may be NULL.
 * A program that owns MPI instead calls tg_dist_setup after MPI_Init, with a
 * pointer to the communicator to use (an MPI_Comm, `&comm`) or NULL for
 * MPI_COMM_WORLD, and tg_dist_teardown before MPI_Finalize. The library
 * works on a duplicate of the communicator (MPI_Comm_dup), so its messages
 * never mix with the program's, and sets its abort-on-error handler on the
 * duplicate only.
 * All four are collective. They return 0, or -1 with a message: MPI not
 * initialised or already finalised, set up twice, teardown before setup. */
int tg_dist_init(int *argc, char ***argv);
int tg_dist_finalize(void);
int tg_dist_setup(const void *mpi_comm);
int tg_dist_teardown(void);

/* This process's rank in 0..world_size-1, and the number of ranks; -1 with
 * a message before setup or after teardown. */
int tg_dist_rank(void);
int tg_dist_world_size(void);
/* True on rank 0, the one that writes checkpoints and prints; false on the
 * others, and false with a message before setup or after teardown. */
bool tg_dist_is_root(void);

/* --- collectives ------------------------------------------------------------ */

/* Copy rank 0's parameter values into every rank's parameters (any dtype),
 * packed into one flat buffer per call (moved in pieces of at most 1 GiB).
 * Call once after building the model so that every replica starts equal.
 * Returns 0, or -1 with a message on every rank (lists that differ, a NULL
 * or non-contiguous parameter on some rank, a call before setup). */
int tg_dist_broadcast_params(const tg_params *params);

/* Replace every gradient by its mean over the ranks: one MPI_Allreduce
 * (sum) per float dtype over a flat buffer holding all the gradients of that
 * dtype, then a division by the world size. Parameters that do not require
 * grad are skipped. A parameter that has a gradient on some ranks but not
 * on others gets a zero gradient where it had none (its samples there did
 * not reach it) and is averaged; one that has no gradient on any rank stays
 * without one, and the optimizer skips it on every rank alike. Gradients
 * must be contiguous with their parameter's shape and dtype. Returns 0, or
 * -1 with a message on every rank, as tg_dist_broadcast_params, also when
 * some rank runs out of memory for a new gradient (the message names the
 * lowest such rank); after a failure no rank's gradients have changed. */
int tg_dist_average_grads(const tg_params *params);

/* Replace each of the n values by its sum over the ranks (in double: counts
 * are exact up to 2^53), e.g. {loss sum, correct count, samples}. Every rank
 * must pass the same n (checked: all fail otherwise). Returns 0 or -1. */
int tg_dist_sum(int n, double *values);

/* Wait until every rank has called it (e.g. after rank 0 wrote a file the
 * others read). Returns 0 or -1. */
int tg_dist_barrier(void);

/* Print "tapegrad: rank R of P: message" to stderr and end every rank of
 * the job with MPI_Abort (exit status 1). Returns only when there is no job
 * to end (before setup, after teardown, or without MPI): -1 with a message,
 * and the caller exits as it would have. */
int tg_dist_abort(const char *message);

typedef struct tg_dist_sampler tg_dist_sampler;

/* --- the sampler: each rank's disjoint share of one seeded shuffle -----------
 * torch.utils.data.distributed.DistributedSampler (shuffle=True), with
 * batching. Every epoch the indices 0..dataset_size-1 are shuffled with a
 * generator seeded by seed + epoch (the same on every rank; it is not
 * PyTorch's generator, so the order differs from torch.randperm's). Then,
 * as in PyTorch, with P = world_size and N = dataset_size:
 *   - drop_last false: each rank gets num_samples = ceil(N / P) indices;
 *     the shuffled list is padded to P * num_samples by repeating its
 *     start, so a few samples appear twice in the epoch;
 *   - drop_last true: num_samples = floor(N / P) and the tail of the
 *     shuffled list (N mod P samples, different each epoch) is left out;
 *   - rank r takes positions r, r + P, r + 2P, ... of that list.
 * Batch k of a rank is its positions k*b .. k*b+b-1 with b = global_batch /
 * P, so the union of every rank's batch k is exactly positions k*B ..
 * k*B+B-1 of the list: the batch k a single process (rank 0 of world size
 * 1, same seed) takes. The last batch holds num_samples mod b indices per
 * rank when that is not 0, the same count on every rank; a loop that wants
 * full batches only stops at num_samples / b. With N divisible by P there
 * is no padding and P ranks see exactly the batches of one process.
 *
 * NULL with a message for N < 1, world_size < 1, rank outside 0..P-1,
 * global_batch < 1, a world size larger than the global batch (some rank
 * would get no sample of a batch), a global batch not divisible by the
 * world size (the shares would differ, and averaging equal-weighted
 * gradients would no longer give the mean over the batch: choose a multiple
 * of P), or drop_last with fewer samples than ranks. */
tg_dist_sampler *tg_dist_sampler_new(int64_t dataset_size, int rank, int world_size, int64_t global_batch,
                                     uint64_t seed, bool drop_last);
/* Reshuffle for epoch (>= 0; the sampler starts at epoch 0). Returns 0 or -1. */
int tg_dist_sampler_set_epoch(tg_dist_sampler *s, int64_t epoch);
/* This rank's indices per epoch (num_samples above), its batch size
 * (global_batch / world_size) and its batches per epoch
 * (ceil(num_samples / batch size)); -1 with a message for NULL. */
int64_t tg_dist_sampler_num_samples(const tg_dist_sampler *s);
int64_t tg_dist_sampler_batch_size(const tg_dist_sampler *s);
int64_t tg_dist_sampler_num_batches(const tg_dist_sampler *s);
/* Write the indices of this rank's batch k (0 <= k < num_batches) into out
 * (room for max_out) and return how many there are; -1 with a message for
 * a bad k or too little room. */
int64_t tg_dist_sampler_batch(const tg_dist_sampler *s, int64_t k, int64_t max_out, int64_t *out);
/* NULL is ignored. */
void tg_dist_sampler_free(tg_dist_sampler *s);

#ifdef __cplusplus
}
#endif

#endif
