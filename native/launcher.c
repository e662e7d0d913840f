/*
 * ts-init-launcher: bin/ts-init for images without /bin/sh.
 *
 * Does the shell launcher's job as a small static binary. It records the
 * signals ts-init inherited as ignored and the descriptors it inherited
 * without close-on-exec. It moves every NODE_* and UV_* variable aside,
 * because Node would act on them before any JavaScript runs. Then it execs
 * Node on dist/main.js, which restores all of it for the workload. See
 * bin/ts-init for the format of TS_INIT_LAUNCH and TS_INIT_SAVED_<NAME>.
 *
 * Node is TS_INIT_NODE when set, else the first "node" on PATH, else
 * /usr/local/bin/node, /usr/bin/node or /nodejs/bin/node (the distroless
 * image). dist/main.js is found relative to this binary, which lives in
 * prebuilds/<platform>-<arch>/ of the package.
 *
 * Man pages: execve(2), fcntl(2), proc(5), environ(7).
 */

#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_LIST 4096

extern char** environ;

static void fail(const char* what, const char* detail) {
  fprintf(stderr, "[ts-init launcher] fatal: %s%s%s: %s\n", what, detail ? " " : "", detail ? detail : "",
          strerror(errno));
  exit(1);
}

static void append(char* list, size_t size, const char* item) {
  size_t used = strlen(list);
  snprintf(list + used, size - used, "%s%s", used > 0 ? "," : "", item);
}

/* Copies the SigIgn hex mask from /proc/self/status, "0" when unreadable. */
static void read_ignored(char* out, size_t size) {
  snprintf(out, size, "0");
  FILE* status = fopen("/proc/self/status", "re");
  if (status == NULL) return;

  char line[256];
  while (fgets(line, sizeof line, status) != NULL) {
    if (strncmp(line, "SigIgn:", 7) == 0) {
      char* value = line + 7;
      value += strspn(value, " \t");
      value[strcspn(value, "\n")] = '\0';
      snprintf(out, size, "%s", value);
      break;
    }
  }
  fclose(status);
}

/* Lists the open descriptors without close-on-exec, comma-separated. */
static void read_inherited_fds(char* out, size_t size) {
  out[0] = '\0';
  DIR* dir = opendir("/proc/self/fd");
  if (dir == NULL) {
    snprintf(out, size, "0,1,2");
    return;
  }

  struct dirent* entry;
  while ((entry = readdir(dir)) != NULL) {
    if (entry->d_name[0] < '0' || entry->d_name[0] > '9') continue;
    int fd = atoi(entry->d_name);
    if (fd == dirfd(dir)) continue;
    int flags = fcntl(fd, F_GETFD);
    if (flags >= 0 && !(flags & FD_CLOEXEC)) append(out, size, entry->d_name);
  }
  closedir(dir);
}

static int is_node_variable(const char* entry) {
  return strncmp(entry, "NODE_", 5) == 0 || strncmp(entry, "UV_", 3) == 0;
}

/*
 * Builds the environment for Node: each NODE_* and UV_* entry becomes
 * TS_INIT_SAVED_<entry>, every other entry is kept, and TS_INIT_LAUNCH is
 * added. Entries are NAME=value strings, so the prefix keeps the value.
 */
static char** build_environment(const char* ignored, const char* fds) {
  size_t count = 0;
  while (environ[count] != NULL) count++;

  char** env = calloc(count + 2, sizeof *env);
  char* saved = calloc(1, MAX_LIST);
  if (env == NULL || saved == NULL) fail("out of memory", NULL);

  size_t used = 0;
  for (size_t i = 0; i < count; i++) {
    const char* entry = environ[i];
    if (strncmp(entry, "TS_INIT_LAUNCH=", 15) == 0) continue;
    if (!is_node_variable(entry) || strchr(entry, '=') == NULL) {
      env[used++] = environ[i];
      continue;
    }

    char* moved = malloc(strlen("TS_INIT_SAVED_") + strlen(entry) + 1);
    if (moved == NULL) fail("out of memory", NULL);
    sprintf(moved, "TS_INIT_SAVED_%s", entry);
    env[used++] = moved;

    char name[256];
    size_t length = strcspn(entry, "=");
    snprintf(name, sizeof name, "%.*s", (int)(length < sizeof name ? length : sizeof name - 1), entry);
    append(saved, MAX_LIST, name);
  }

  char* launch = malloc(MAX_LIST * 2 + 64);
  if (launch == NULL) fail("out of memory", NULL);
  snprintf(launch, MAX_LIST * 2 + 64, "TS_INIT_LAUNCH=ignored=%s fds=%s saved=%s", ignored, fds, saved);
  env[used++] = launch;
  env[used] = NULL;
  return env;
}

static int is_executable(const char* path) {
  return access(path, X_OK) == 0;
}

/* Finds Node; see the header for the order. */
static const char* find_node(char* buffer, size_t size) {
  const char* configured = getenv("TS_INIT_NODE");
  if (configured != NULL && configured[0] != '\0') return configured;

  const char* path = getenv("PATH");
  while (path != NULL && *path != '\0') {
    size_t length = strcspn(path, ":");
    if (length > 0 && length + 6 < size) {
      snprintf(buffer, size, "%.*s/node", (int)length, path);
      if (is_executable(buffer)) return buffer;
    }
    path += length;
    if (*path == ':') path++;
  }

  static const char* const fallbacks[] = {"/usr/local/bin/node", "/usr/bin/node", "/nodejs/bin/node"};
  for (size_t i = 0; i < sizeof fallbacks / sizeof fallbacks[0]; i++) {
    if (is_executable(fallbacks[i])) return fallbacks[i];
  }
  return "node";
}

/* Returns <package>/dist/main.js for a launcher in <package>/prebuilds/<dir>/. */
static void find_main(char* out, size_t size) {
  char self[PATH_MAX - 16];
  ssize_t length = readlink("/proc/self/exe", self, sizeof self - 1);
  if (length < 0) fail("cannot find this launcher through", "/proc/self/exe");
  self[length] = '\0';

  for (int level = 0; level < 3; level++) {
    char* slash = strrchr(self, '/');
    if (slash == NULL) break;
    *slash = '\0';
  }
  snprintf(out, size, "%s/dist/main.js", self);
}

int main(int argc, char** argv) {
  char ignored[64];
  char fds[MAX_LIST];
  read_ignored(ignored, sizeof ignored);
  read_inherited_fds(fds, sizeof fds);

  char node_buffer[PATH_MAX];
  char main_script[PATH_MAX];
  const char* node = find_node(node_buffer, sizeof node_buffer);
  find_main(main_script, sizeof main_script);

  char** node_argv = calloc((size_t)argc + 3, sizeof *node_argv);
  if (node_argv == NULL) fail("out of memory", NULL);
  node_argv[0] = (char*)node;
  node_argv[1] = "--v8-pool-size=1";
  node_argv[2] = main_script;
  for (int i = 1; i < argc; i++) node_argv[i + 2] = argv[i];

  execve(node, node_argv, build_environment(ignored, fds));
  fail("cannot execute", node);
  return 1;
}
