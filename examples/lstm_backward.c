/* Watch back-propagation through time happen: two steps of an LSTM cell,
 * written out op by op with the LSTM cell's formulas (layers/cells.c runs
 * them as one fused expression), with a hook on every intermediate tensor
 * that prints its gradient as backward reaches it. docs/backward-walkthrough.md reads this output line by line.
 *
 *     lstm_backward [--dot FILE] [--quiet]
 *
 * --dot writes the recorded graph as Graphviz DOT (render it with
 * `dot -Tsvg FILE > graph.svg`); --quiet prints only the loss and the leaf
 * gradients. */
#include <stdio.h>
#include <string.h>

#include <tapegrad/tapegrad.h>

#include "args.h"

#define H 2 /* hidden units */
#define I 2 /* input features */

/* Print "dL/d<name> = [...]" when backward reaches the tensor. */
static tg_tensor *show(tg_tensor *t, tg_tensor *grad, void *name)
{
    (void)t;
    char text[256];
    printf("  dL/d%-10s = %s\n", (const char *)name, tg_repr(grad, text, sizeof text));
    return NULL;
}

static bool quiet; /* --quiet: no hooks, so nothing is printed during backward */

static tg_tensor *named(tg_tensor *t, const char *name)
{
    if (!quiet) tg_register_hook(t, show, (void *)name);
    return t;
}

/* One LSTM step: [i f g o] = x W_ih^T + b_ih + h W_hh^T + b_hh,
 * c' = f * c + i * g, h' = o * tanh(c'). Names get the step number. */
static tg_tensor *step(tg_cell_layer *cell, tg_tensor *x, tg_tensor *h, tg_tensor *c, tg_tensor **c_out,
                       const char **names)
{
    tg_tensor *xproj = tg_linear(x, tg_cell_layer_param(cell, "weight_ih"), tg_cell_layer_param(cell, "bias_ih"));
    tg_tensor *hproj = tg_linear(h, tg_cell_layer_param(cell, "weight_hh"), tg_cell_layer_param(cell, "bias_hh"));
    tg_tensor *pre = named(tg_add(xproj, hproj), names[0]);
    tg_tensor *in_forget = named(tg_sigmoid(tg_narrow(pre, 0, 0, 2 * H)), names[1]);
    tg_tensor *input_gate = tg_narrow(in_forget, 0, 0, H);
    tg_tensor *forget_gate = tg_narrow(in_forget, 0, H, H);
    tg_tensor *candidate = named(tg_tanh(tg_narrow(pre, 0, 2 * H, H)), names[2]);
    tg_tensor *output_gate = named(tg_sigmoid(tg_narrow(pre, 0, 3 * H, H)), names[3]);
    tg_tensor *kept = named(tg_mul(forget_gate, c), names[4]);
    *c_out = named(tg_addcmul(kept, input_gate, candidate, 1.0), names[5]);
    tg_tensor *squashed = named(tg_tanh(*c_out), names[6]);
    return named(tg_mul(output_gate, squashed), names[7]);
}

static void usage(FILE *to, const char *argv0)
{
    fprintf(to,
            "usage: %s [--dot FILE] [--quiet]\n"
            "Runs two steps of an LSTM cell (input 2, hidden 2) and prints the gradient of every\n"
            "intermediate tensor in the order backward reaches it; --dot writes the graph as DOT;\n"
            "--quiet prints only the loss and the leaf gradients.\n",
            argv0);
}

int main(int argc, char **argv)
{
    const char *dot = NULL;
    int status = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--dot") == 0) {
            if (!arg_text("lstm_backward", argc, argv, &i, &dot)) return 2;
        } else if (strcmp(argv[i], "--quiet") == 0) {
            quiet = true;
        } else {
            return arg_other("lstm_backward", argv[i], argv[0], usage);
        }
    }
    tg_manual_seed(0);
    /* The LSTM's parameters, in torch's layout (weight_ih (4H, I), ...). */
    tg_cell_layer *cell = tg_cell_layer_new(&tg_cell_lstm, I, H, true, TG_F64);
    if (!cell) {
        fprintf(stderr, "lstm_backward: %s\n", tg_last_error());
        return 1;
    }
    tg_scope *scope = tg_scope_begin();
    tg_tensor *x1 = tg_from_array(TG_F64, 1, (int64_t[]){I}, (double[]){1.0, -1.0});
    tg_tensor *x2 = tg_from_array(TG_F64, 1, (int64_t[]){I}, (double[]){0.5, 2.0});
    tg_tensor *h0 = tg_zeros(TG_F64, 1, (int64_t[]){H}), *c0 = tg_zeros(TG_F64, 1, (int64_t[]){H});
    const char *names1[] = {"pre1", "if1", "g1", "o1", "f1*c0", "c1", "tanh(c1)", "h1"};
    const char *names2[] = {"pre2", "if2", "g2", "o2", "f2*c1", "c2", "tanh(c2)", "h2"};
    tg_tensor *c1, *c2;
    tg_tensor *h1 = step(cell, x1, h0, c0, &c1, names1);
    tg_tensor *h2 = step(cell, x2, h1, c1, &c2, names2);
    tg_tensor *loss = tg_sum(h2, 0, NULL, false); /* L = h2[0] + h2[1] */
    char text[1024];
    if (!quiet) {
        printf("forward:\n  h1 = %s\n", tg_repr(h1, text, sizeof text));
        printf("  c1 = %s\n", tg_repr(c1, text, sizeof text));
        printf("  h2 = %s\n", tg_repr(h2, text, sizeof text));
    }
    printf("  L = sum(h2) = %.6f\n", tg_item(loss));
    if (dot) {
        FILE *f = fopen(dot, "w");
        bool dot_ok = f && tg_graph_dot(loss, f) == 0;
        if (f && fclose(f) != 0) dot_ok = false;
        if (!dot_ok) {
            fprintf(stderr, "lstm_backward: cannot write --dot '%s': %s\n", dot, strerror(errno));
            status = 1;
        }
    }
    if (!quiet) printf("backward (each line printed as the sweep reaches that tensor):\n");
    fflush(stdout);
    if (tg_backward(loss, NULL) < 0) {
        fprintf(stderr, "lstm_backward: %s\n", tg_last_error());
        status = 1;
        goto done;
    }
    printf("leaf gradients:\n  dL/dweight_hh = %s\n", tg_repr(tg_cell_layer_param(cell, "weight_hh")->grad, text, sizeof text));
    printf("  dL/dbias_ih   = %s\n", tg_repr(tg_cell_layer_param(cell, "bias_ih")->grad, text, sizeof text));

done:
    tg_scope_end(scope);
    tg_cell_layer_free(cell);
    return status;
}
