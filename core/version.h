/* The library's version (semantic versioning; 0.x may change the API in any
 * minor release, as CHANGELOG.md records). */
#ifndef TG_VERSION_H
#define TG_VERSION_H

#ifdef __cplusplus
extern "C" {
#endif

#define TG_VERSION_MAJOR 0
#define TG_VERSION_MINOR 2
#define TG_VERSION_PATCH 0
#define TG_VERSION_STRING "0.2.0"

/* The version of the library linked at run time, "MAJOR.MINOR.PATCH"
 * (TG_VERSION_STRING is the one compiled against). */
const char *tg_version(void);

#ifdef __cplusplus
}
#endif

#endif
