/*
** Bounded file access for the model loader: regular files only, opened without blocking.  See
** file_read.h.
*/
#include "file_read.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *lg_file_kind(mode_t mode) {
  if (S_ISREG(mode)) return "a regular file";
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISLNK(mode)) return "a symbolic link";
  return "a special file";
}

int lg_file_open_regular(const char *path, struct stat *sb, lg_err *err) {
  int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    lg_errf(err, "%s: cannot open: %s", path, strerror(errno));
    return -1;
  }
  if (fstat(fd, sb) != 0) {
    lg_errf(err, "%s: cannot examine: %s", path, strerror(errno));
    goto fail;
  }
  if (!S_ISREG(sb->st_mode)) {
    lg_errf(err, "'%s' is %s, not a regular file", path, lg_file_kind(sb->st_mode));
    goto fail;
  }
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
    lg_errf(err, "%s: cannot set blocking mode: %s", path, strerror(errno));
    goto fail;
  }
  return fd;
fail:
  close(fd);
  return -1;
}

char *lg_file_read_all(const char *path, size_t max, const char *what, size_t *n, lg_err *err) {
  struct stat sb;
  char *buf = NULL;
  size_t len = 0;
  int fd = lg_file_open_regular(path, &sb, err);
  if (fd < 0) return NULL;
  if ((unsigned long long)sb.st_size > max) {
    lg_errf(err, "%s: %lld bytes, larger than the %zu-byte limit for a %s", path, (long long)sb.st_size,
            max, what);
    goto done;
  }
  size_t size = (size_t)sb.st_size;
  buf = malloc(size + 1);
  if (!buf) { lg_errf(err, "%s: out of memory for %zu bytes", path, size); goto done; }
  while (len < size) {   /* the file may shrink while read; it cannot grow past size here */
    ssize_t r = read(fd, buf + len, size - len);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      lg_errf(err, "%s: read error: %s", path, strerror(errno));
      free(buf);
      buf = NULL;
      goto done;
    }
    if (r == 0) break;
    len += (size_t)r;
  }
  buf[len] = 0;
  *n = len;
done:
  close(fd);
  return buf;
}

int lg_file_probe(const char *path, lg_err *err) {
  struct stat sb;
  if (stat(path, &sb) != 0) return 0;
  if (S_ISREG(sb.st_mode)) return 1;
  return lg_errf(err, "'%s' is %s, not a regular file", path, lg_file_kind(sb.st_mode));
}
