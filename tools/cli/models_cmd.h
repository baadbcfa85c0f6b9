/*
 * models_cmd.h - `sutra models list | pull | info | rm` (the models this machine has, and models
 * by Hugging Face hub id), over the library's sutra_models_list / sutra_hub_pull /
 * sutra_model_describe / sutra_hub_remove.
 */
#ifndef SUTRA_CLI_MODELS_CMD_H
#define SUTRA_CLI_MODELS_CMD_H

#include "sutra.h"

/* argv[0] is "models"; returns the exit status. */
int cli_models(int argc, char **argv);

/* s as a JSON string on stdout, quotes included (the CLI's JSON printers share it). */
void cli_json_str(const char *s);

#endif
