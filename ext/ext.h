/*
** Internal interface between the files of the extension.  Each file registers its own SQL
** functions/modules; legrad0.c's sqlite3_legrad_init() calls them in order.
*/
#ifndef LEGRAD_EXT_H
#define LEGRAD_EXT_H
#include <sqlite3.h>

/* Map blob functions: legrad_map_info/grid/json/png (map_funcs.c). */
int lg_register_map_functions(sqlite3 *db);
/* Metric functions: legrad_iou/pointing/mass_in (metric_funcs.c). */
int lg_register_metric_functions(sqlite3 *db);

#endif
