/* The table of models, expanded from build/kh_models.def, which the Makefile
 * writes with one KH_MODEL(name) line per models/<name>.c. */
#include <stdio.h>
#include <string.h>

#include "core/kh_error.h"
#include "models/kh_model.h"

#define KH_MODEL(name) extern const kh_model_type kh_model_##name;
#include "kh_models.def"
#undef KH_MODEL

#define KH_MODEL(name) &kh_model_##name,
const kh_model_type *const kh_models[] = {
#include "kh_models.def"
    NULL};
#undef KH_MODEL

/* The model called name, or NULL. */
static const kh_model_type *lookup(const char *name)
{
    for (size_t i = 0; kh_models[i]; i++) {
        if (strcmp(kh_models[i]->name, name) == 0) {
            return kh_models[i];
        }
    }
    return NULL;
}

const kh_model_type *kh_model_find(const char *name)
{
    const kh_model_type *t = lookup(name);
    if (t) {
        return t;
    }
    char list[512] = "";
    for (size_t i = 0; kh_models[i]; i++) {
        size_t l = strlen(list);
        snprintf(list + l, sizeof list - l, "%s%s", i ? ", " : "", kh_models[i]->name);
    }
    KH_ERROR(KH_EINVAL, "network.model = '%s' is not a model (choose one of: %s)", name, list);
    return NULL;
}

int kh_model_has(const char *name, unsigned caps)
{
    const kh_model_type *t = lookup(name);
    return t && (t->caps & caps) == caps;
}
