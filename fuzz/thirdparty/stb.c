/*
** stb_image and stb_image_write compiled into the fuzz targets, so the sanitizers instrument them.
**
** Debian's libstb (linked by `make` with -lstb) is the headers of libstb-dev compiled with their
** *_IMPLEMENTATION macro and every optional macro unset (README.Debian of libstb0); this file is
** the same code for the two libraries the engine uses, built by the fuzz rules of the Makefile with
** -fsanitize=address,undefined,fuzzer in place of the uninstrumented shared library.
*/
#define STB_IMAGE_IMPLEMENTATION
#include <stb/stb_image.h>
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image_write.h>
