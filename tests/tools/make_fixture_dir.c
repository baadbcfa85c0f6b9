/*
 * make_fixture_dir - writes the model folder of a fixture (tests/fixtures/<family>/<name>) for
 * tests outside C (the Python package's): the fixture's files named on the command line, the
 * default model's tokenizer, and the seeded weights its weights.json describes, exactly as the C
 * family tests assemble it (tu_fixture_assemble).
 *
 *   make_fixture_dir SRC DST FILE...     e.g. tests/fixtures/rerank/minilm-ce /tmp/ce config.json
 *
 * The default model is found as the tests find it ($SUTRA_MODELS_DIR). Exit 0, or 1 with the
 * reason on stderr.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "family_fixture.h"
#include "testutil.h"

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: %s SRC DST FILE...\n", argv[0]);
        return 1;
    }
    if (mkdir(argv[2], 0755) && errno != EEXIST) {
        fprintf(stderr, "%s: cannot make %s: %s\n", argv[0], argv[2], strerror(errno));
        return 1;
    }
    if (tu_fixture_assemble(argv[1], argv[2], (const char *const *)argv + 3, (size_t)argc - 3, 1) || tu_failures) {
        fprintf(stderr, "%s: cannot make the model folder %s from %s\n", argv[0], argv[2], argv[1]);
        return 1;
    }
    return 0;
}
