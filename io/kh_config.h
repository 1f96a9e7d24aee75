/* The run configuration: a study file (INI) parsed into kh_params with the
 * strict validation of README, "Study file".
 *
 * Unknown sections and keys, keys given twice, values that do not parse,
 * non-finite numbers and out-of-range values are all KH_EINVAL, with a
 * message naming the file, the line, the section.key and the reason. */
#ifndef KH_CONFIG_H
#define KH_CONFIG_H

#include "core/kh_types.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct kh_config {
    kh_params p;
    char *study_text;             /* owned: the full INI text, stored in the HDF5 file */
    char study_path[KH_PATH_MAX]; /* where it was read from ("" for a string) */
    unsigned char *set;           /* owned: set[i] != 0 when table entry i was given */
} kh_config;

/* Number of entries of kh_param_table. */
size_t kh_param_count(void);

/* Finds the table entry of "section.key"; returns its index or -1. */
long kh_param_find(const char *section, const char *key);

/* The same for "section.key" written as one name; -1 when none. */
long kh_param_find_dotted(const char *name);

/* Allocates a config holding every default. NULL + KH_ERROR on failure. */
kh_config *kh_config_alloc(void);
void kh_config_free(kh_config *c);

/* Reads the text file at path (a file, a pipe or a device) whole into a
 * new NUL-terminated *text (free it). `what` names it in messages ("study
 * file"). KH_OK; KH_EIO when it cannot be opened or read; KH_EINVAL for a
 * directory, NUL bytes, or more than max bytes; KH_ENOMEM. */
int kh_config_read_text(const char *path, size_t max, const char *what, char **text);
/* Reads and parses the study file at `path` over the defaults.
 * Returns KH_OK, KH_EIO (unreadable) or KH_EINVAL. */
int kh_config_read(kh_config *c, const char *path);

/* Parses INI text (`name` is used in messages). KH_OK or KH_EINVAL. */
int kh_config_parse_string(kh_config *c, const char *text, const char *name);

/* The longest line the INI reader takes whole (libinih's buffer is 200
 * bytes with the newline and the terminating NUL). */
#define KH_INI_LINE_MAX 198

/* The text the INI reader sees, line for line that of a study or sweep file
 * (`name` in messages): indentation removed (an indented key is a key, not a
 * continuation of the line before), comments removed (a '#' or ';' that
 * starts a line or follows a space or tab: "hidden = 20  # units" reads as
 * "hidden = 20"), and every line checked against KH_INI_LINE_MAX. *out is
 * the caller's to free. KH_OK, KH_EINVAL (naming the line), KH_ENOMEM. */
int kh_config_normalize(const char *text, const char *name, char **out);

/* Applies one override "section.key=value" (the CLI's --set). */
int kh_config_set(kh_config *c, const char *assignment);

/* Sets one key from its text value; `where` prefixes messages. */
int kh_config_set_kv(kh_config *c, const char *section, const char *key, const char *value,
                     const char *where);

/* Checks the ranges and the relations between keys, and resolves the
 * derived defaults (output path, presentation_time_end). KH_OK or KH_EINVAL. */
int kh_config_validate(kh_config *c);

/* The directory of the shipped data (mnist-1000, iris) into buf: the
 * installed one ($(PREFIX)/share/khsim/data), else the data/ beside the
 * running binary (a build tree). KH_OK, or KH_EIO naming both places. */
int kh_config_data_dir(char *buf, size_t len);

/* Formats the value of table entry i into buf (for /params and info). */
void kh_param_format(const kh_params *p, size_t i, char *buf, size_t len);

/* The name of enum value `v` of table entry i. */
const char *kh_param_enum_name(size_t i, int v, char *buf, size_t len);

/* A path as the study (or sweep) file at `study_path` names it: a relative
 * path means the file beside the study file (study_path's directory joined
 * with it) when that exists, or when neither it nor the path as given from
 * the current directory exists; else the path as given (the current
 * directory, as khsim read it before). Into out. */
void kh_config_resolve(const char *study_path, const char *path, char *out, size_t len);

/* Presentation time of sample s of n (linear schedule, README, "Study file"). */
double kh_config_presentation_time(const kh_params *p, long s, long n);

#ifdef __cplusplus
}
#endif
#endif
