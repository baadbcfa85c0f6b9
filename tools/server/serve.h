/*
 * serve.h - `sutra serve`: the HTTP server (libmicrohttpd) in front of one embedder.
 */
#ifndef SUTRA_SERVER_SERVE_H
#define SUTRA_SERVER_SERVE_H

/* Runs the server until SIGTERM or SIGINT; argv[0] is "serve". Returns the exit status. */
int sutra_serve_main(int argc, char **argv);

#endif /* SUTRA_SERVER_SERVE_H */
