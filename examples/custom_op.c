/* Define a new differentiable op (see swish.h), use it in an expression,
 * check its gradient numerically, and print the recorded graph as DOT:
 *
 *     ./build/examples/custom_op | dot -Tsvg > graph.svg
 *
 * The loss, the gradient and the check go to stderr (--quiet: only a failed
 * check), the graph to stdout. */
#include <stdio.h>
#include <string.h>

#include "args.h"
#include "swish.h"

static tg_tensor *swish_of_first(int n, tg_tensor **in, void *ctx)
{
    (void)n;
    (void)ctx;
    return swish(in[0], 1.5);
}

static void usage(FILE *to, const char *argv0)
{
    fprintf(to,
            "usage: %s [--quiet]\n"
            "Defines swish(x) = x sigmoid(1.5 x) as a new op, checks its gradient numerically and\n"
            "prints the recorded graph as DOT on stdout (the loss, gradient and check on stderr;\n"
            "--quiet: only a failed check).\n",
            argv0);
}

int main(int argc, char **argv)
{
    bool quiet = false;
    int code = arg_quiet_only("custom_op", argc, argv, usage, &quiet);
    if (code >= 0) return code;
    tg_manual_seed(0);
    tg_tensor *x = tg_requires_grad(tg_randn(TG_F64, 2, (int64_t[]){2, 3}, 0, 1), true);
    tg_scope *scope = tg_scope_begin();

    tg_tensor *loss = tg_sum(swish(tg_transpose(x, 0, 1), 1.5), 0, NULL, false);
    tg_backward_retain(loss, NULL);
    char text[1024];
    if (!quiet) fprintf(stderr, "loss = %.6f\ndloss/dx =\n%s\n", tg_item(loss), tg_repr(x->grad, text, sizeof text));

    tg_gradcheck_result check;
    int status = tg_gradcheck(swish_of_first, 1, &x, NULL, 1e-6, 1e-6, 1e-4, &check);
    if (!quiet || status != 0)
        fprintf(stderr, "gradcheck: %s (worst abs error %.2e)\n", status == 0 ? "ok" : "FAILED", check.max_abs_err);

    tg_graph_dot(loss, stdout);
    tg_scope_end(scope);
    tg_free(x);
    return status == 0 ? 0 : 1;
}
