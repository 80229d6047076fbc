/*
** Opening and reading the files of a model (weights, configs, tokenizer files) safely.
**
**   struct stat sb;
**   int fd = lg_file_open_regular("m/model.safetensors", &sb, &err);     // or -1, err set
**   char *text = lg_file_read_all("m/config.json", 16 << 20, "config file", &n, &err);  // + NUL
**   switch (lg_file_probe("m/vocab.json", &err)) { 1: regular, 0: absent, -1: refused }
**
** Every file the engine reads goes through lg_file_open_regular: it opens with
** O_NONBLOCK|O_CLOEXEC|O_NOCTTY, so opening a FIFO with no writer or a device never waits, checks
** with fstat on the opened descriptor that it is a regular file (what was opened is what was
** checked: no race with a rename), then clears O_NONBLOCK.  A FIFO, socket, device or directory
** is refused with "'PATH' is a FIFO, not a regular file".  Reads of a regular file always end, so
** no open or read can block a thread (and a lock it holds) forever.  Messages name the path and
** describe what was found; they never quote the file's bytes.
*/
#ifndef LEGRAD_FILE_READ_H
#define LEGRAD_FILE_READ_H
#include <stddef.h>
#include <sys/stat.h>

#include "lg_error.h"

/* "a FIFO", "a directory", "a socket", "a character device", "a block device", "a regular file",
** "a symbolic link" or "a special file" for an st_mode. */
const char *lg_file_kind(mode_t mode);

/* Opens path read-only if it is a regular file (symbolic links followed).  Returns the descriptor
** (close it) with *sb filled, or -1 with err set: "PATH: cannot open: REASON" or
** "'PATH' is a FIFO, not a regular file". */
int lg_file_open_regular(const char *path, struct stat *sb, lg_err *err);

/* Reads the whole regular file path (at most max bytes, else an error giving its size and the
** limit; `what` names the kind of file in that message, e.g. "config file") into a malloc'ed
** buffer with a NUL byte after the *n bytes read.  NULL with err set on failure. */
char *lg_file_read_all(const char *path, size_t max, const char *what, size_t *n, lg_err *err);

/* For optional files: 1 when path is a regular file, 0 when nothing is there (or it cannot be
** examined: a missing directory, a dangling link), -1 with err set when something else (a FIFO, a
** directory...) has that name. */
int lg_file_probe(const char *path, lg_err *err);

#endif
