/* The shapes of PyTorch's nn.LSTM, reproduced:
 *   LSTM(10, 20, num_layers=2, batch_first) on x (32,15,10) gives output
 *   (32,15,20), h_n and c_n (2,32,20); bidirectional with one layer gives
 *   output (32,15,40) and h_n (2,32,20).
 *
 *     shapes [--quiet]
 *
 * --quiet prints nothing: the exit status says whether both layers ran. */
#include <stdio.h>
#include <string.h>

#include <tapegrad/tapegrad.h>
#include <tapegrad/rnn.h>

#include "args.h"

static bool quiet;

static int show(const char *title, const tg_lstm_config *cfg, tg_tensor *x)
{
    tg_lstm *lstm = tg_lstm_new(cfg);
    tg_rnn_output r;
    if (!lstm || tg_lstm_forward(lstm, x, NULL, NULL, NULL, &r) < 0) {
        fprintf(stderr, "shapes: %s\n", tg_last_error());
        tg_rnn_free(lstm);
        return 1;
    }
    char a[64], b[64], c[64], in[64];
    if (!quiet)
            printf("%s on x %s: output %s, h_n %s, c_n %s\n", title, tg_shape_str(x, in, sizeof in),
               tg_shape_str(r.output, a, sizeof a), tg_shape_str(r.h_n, b, sizeof b), tg_shape_str(r.c_n, c, sizeof c));
    tg_rnn_free(lstm);
    return 0;
}

static void usage(FILE *to, const char *argv0)
{
    fprintf(to,
            "usage: %s [--quiet]\n"
            "Prints the shapes of the outputs and final states of torch.nn.LSTM's configurations,\n"
            "reproduced; --quiet prints nothing (the exit status says whether they ran).\n",
            argv0);
}

int main(int argc, char **argv)
{
    int code = arg_quiet_only("shapes", argc, argv, usage, &quiet);
    if (code >= 0) return code;
    tg_scope *s = tg_scope_begin();
    tg_tensor *x = tg_randn(TG_F32, 3, (int64_t[]){32, 15, 10}, 0, 1);
    int status = show("LSTM(10, 20, num_layers=2, batch_first)",
                      &(tg_lstm_config){.input_size = 10, .hidden_size = 20, .num_layers = 2, .batch_first = true}, x);
    status |= show("LSTM(10, 20, bidirectional, batch_first)",
                   &(tg_lstm_config){.input_size = 10, .hidden_size = 20, .bidirectional = true, .batch_first = true}, x);
    tg_scope_end(s);
    return status;
}
