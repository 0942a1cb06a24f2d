/*
 * path.h - turn a request path into a bounded endpoint name.
 *
 * Endpoints label growth ("fed by /orders/{id}"), so their number must stay
 * bounded whatever the traffic: the query string is dropped and path
 * segments that are identifiers - decimal numbers, UUIDs, long hex strings -
 * become "{id}". "/orders/12345/items?page=2" -> "/orders/{id}/items".
 */
#ifndef LW_PATH_H
#define LW_PATH_H

#include <stddef.h>

#define LW_ENDPOINT_MAX 128   /* bytes, NUL included */

/*
 * Writes the folded form of path[0..len) into out (outlen > 0, always
 * NUL-terminated; a longer result is cut and ends in "..."). An empty path
 * becomes "/". Returns the length written.
 */
size_t lw_path_fold(const char *path, size_t len, char *out, size_t outlen);

#endif
