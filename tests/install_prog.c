/* Built by install_test.sh against the installed library only, as C11 and
 * as C++. The system's <threads.h> and <error.h> come first: tapegrad's
 * headers live under tapegrad/ and must not hide them. */
#ifndef __cplusplus
#include <threads.h>
#endif
#include <error.h>
#include <stdio.h>
#include <string.h>
#include <tapegrad.h>
#include <tapegrad/tensor.h>

#ifndef __cplusplus
static int count(void *arg) { return *(int *)arg; }
#endif

int main(void)
{
#ifndef __cplusplus
    thrd_t thread; /* C11 threads: would not compile if tapegrad's threads.h shadowed the system's */
    int value = 3, result = 0;
    thrd_create(&thread, count, &value);
    thrd_join(thread, &result);
    if (result != 3) return 1;
#endif
    error_message_count = 0; /* glibc's <error.h>, not tapegrad's */
    if (strcmp(tg_version(), TG_VERSION_STRING) != 0) return 1;
    tg_tensor *x = tg_requires_grad(tg_scalar(TG_F64, 3.0), true);
    tg_scope *s = tg_scope_begin();
    tg_backward(tg_mul(x, x), NULL);
    printf("dy/dx = %.4f\n", tg_item(x->grad));
    tg_scope_end(s);
    tg_free(x);
    return 0;
}
