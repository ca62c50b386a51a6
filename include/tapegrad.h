/* tapegrad: the whole public API in one include (same as <tapegrad/tapegrad.h>). */
#include <tapegrad/tapegrad.h>
