// The guest's program runner (static, in the initramfs): enters the image's
// root and runs its program as its OCI config says, the way a container runtime
// does, then reports how it ended.
//
//   guest_exec ROOT PLAN
//
// PLAN has one "KEY<TAB>VALUE" per line; VALUE escapes "\\" and "\n":
//   user     the config's User: "", NAME, UID, NAME:GROUP, UID:GID (any mix);
//            names resolve through ROOT's /etc/passwd and /etc/group
//   workdir  the config's WorkingDir ("" = /)
//   env      NAME=VALUE, once per variable (PATH defaults as in Docker)
//   arg      entrypoint then cmd, once per word
// A user found in /etc/passwd also gets HOME (unless env sets it) and, as runc
// does, the supplementary groups /etc/group lists the user's name in.
// Exit status: the program's (128 + signal if killed); 120-125 are ours.
#define _GNU_SOURCE
#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

enum { kMaxItems = 256, kMaxGroups = 64, kLine = 8192 };

static char* env[kMaxItems + 2];
static char* args[kMaxItems + 1];
static int env_count, arg_count;
static char user[kLine], workdir[kLine] = "/";

static void die(int status, const char* what) {
  fprintf(stderr, "guest_exec: %s: %s\n", what, errno ? strerror(errno) : "invalid");
  exit(status);
}

static void unescape(char* s) {
  char* out = s;
  for (; *s; ++s) {
    if (*s == '\\' && s[1]) {
      ++s;
      *out++ = *s == 'n' ? '\n' : *s;
    } else {
      *out++ = *s;
    }
  }
  *out = 0;
}

static void read_plan(const char* path) {
  FILE* f = fopen(path, "r");
  if (!f) die(121, path);
  char line[kLine];
  while (fgets(line, sizeof line, f)) {
    line[strcspn(line, "\n")] = 0;
    char* value = strchr(line, '\t');
    if (!value) continue;
    *value++ = 0;
    unescape(value);
    if (!strcmp(line, "user")) {
      snprintf(user, sizeof user, "%s", value);
    } else if (!strcmp(line, "workdir") && *value) {
      snprintf(workdir, sizeof workdir, "%s", value);
    } else if (!strcmp(line, "env") && env_count < kMaxItems) {
      env[env_count++] = strdup(value);
    } else if (!strcmp(line, "arg") && arg_count < kMaxItems) {
      args[arg_count++] = strdup(value);
    }
  }
  fclose(f);
  if (arg_count == 0) die(121, "the plan has no program");
}

static int is_number(const char* s) { return *s && strspn(s, "0123456789") == strlen(s); }

// Field N (0-based) of the colon-separated LINE into OUT.
static void field(const char* line, int n, char* out, size_t size) {
  for (; n > 0 && line; --n) line = strchr(line, ':') ? strchr(line, ':') + 1 : NULL;
  size_t len = line ? strcspn(line, ":\n") : 0;
  snprintf(out, size, "%.*s", (int)len, line ? line : "");
}

// The /etc/passwd line whose name (or, for a number, uid) is KEY, into LINE.
static int find_entry(const char* file, const char* key, char* line, size_t size) {
  FILE* f = fopen(file, "r");
  if (!f) return 0;
  char name[kLine], id[64];
  int found = 0;
  while (!found && fgets(line, (int)size, f)) {
    field(line, 0, name, sizeof name);
    field(line, 2, id, sizeof id);
    found = is_number(key) ? !strcmp(id, key) : !strcmp(name, key);
  }
  fclose(f);
  return found;
}

static int has_env(const char* name) {
  size_t n = strlen(name);
  for (int i = 0; i < env_count; ++i)
    if (!strncmp(env[i], name, n) && env[i][n] == '=') return 1;
  return 0;
}

static void apply_user(void) {
  char spec_user[kLine], spec_group[kLine], line[kLine], buf[kLine];
  snprintf(spec_user, sizeof spec_user, "%s", user);
  char* colon = strchr(spec_user, ':');
  spec_group[0] = 0;
  if (colon) {
    snprintf(spec_group, sizeof spec_group, "%s", colon + 1);
    *colon = 0;
  }
  uid_t uid = 0;
  gid_t gid = 0;
  char name[kLine] = "";
  char home[kLine] = "/";
  if (*spec_user && find_entry("/etc/passwd", spec_user, line, sizeof line)) {
    field(line, 0, name, sizeof name);
    field(line, 2, buf, sizeof buf);
    uid = (uid_t)strtoul(buf, NULL, 10);
    field(line, 3, buf, sizeof buf);
    gid = (gid_t)strtoul(buf, NULL, 10);
    field(line, 5, home, sizeof home);
  } else if (*spec_user && is_number(spec_user)) {
    uid = (uid_t)strtoul(spec_user, NULL, 10);
  } else if (*spec_user) {
    errno = 0;
    die(122, "user not found in /etc/passwd");
  }
  if (*spec_group && find_entry("/etc/group", spec_group, line, sizeof line)) {
    field(line, 2, buf, sizeof buf);
    gid = (gid_t)strtoul(buf, NULL, 10);
  } else if (*spec_group && is_number(spec_group)) {
    gid = (gid_t)strtoul(spec_group, NULL, 10);
  } else if (*spec_group) {
    errno = 0;
    die(122, "group not found in /etc/group");
  }

  gid_t groups[kMaxGroups];
  int count = 0;
  groups[count++] = gid;
  FILE* f = *name ? fopen("/etc/group", "r") : NULL;
  while (f && fgets(line, sizeof line, f) && count < kMaxGroups) {
    char members[kLine];
    field(line, 3, members, sizeof members);
    for (char* m = strtok(members, ","); m; m = strtok(NULL, ",")) {
      if (strcmp(m, name)) continue;
      field(line, 2, buf, sizeof buf);
      groups[count++] = (gid_t)strtoul(buf, NULL, 10);
      break;
    }
  }
  if (f) fclose(f);

  if (!has_env("HOME")) {
    static char home_env[kLine + 8];
    snprintf(home_env, sizeof home_env, "HOME=%s", *home ? home : "/");
    env[env_count++] = home_env;
  }
  if (setgroups((size_t)count, groups) || setgid(gid) || setuid(uid)) die(123, "setting the user");
}

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: guest_exec ROOT PLAN\n");
    return 120;
  }
  read_plan(argv[2]);
  pid_t pid = fork();
  if (pid < 0) die(120, "fork");
  if (pid == 0) {
    if (chdir(argv[1]) || chroot(".") || chdir("/")) die(121, argv[1]);
    if (!has_env("PATH")) env[env_count++] = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    apply_user();
    if (chdir(workdir)) die(124, workdir);
    clearenv();
    for (int i = 0; i < env_count; ++i) putenv(env[i]);
    execvp(args[0], args);
    die(125, args[0]);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
