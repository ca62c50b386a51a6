/* Built by install_test.sh against the installed library only. */
#include <stdio.h>
#include <tapegrad/tapegrad.h>

int main(void)
{
    tg_tensor *x = tg_requires_grad(tg_scalar(TG_F64, 3.0), true);
    tg_scope *s = tg_scope_begin();
    tg_backward(tg_mul(x, x), NULL);
    printf("dy/dx = %.4f\n", tg_item(x->grad));
    tg_scope_end(s);
    tg_free(x);
    return 0;
}
