/* snapshot: birth and death of a struct cfg_snapshot (config.h).
 *
 * Owns the defaults of every optional key, in one place. Borrows nothing.
 * Never validates: that is the loader's job. */
#ifndef REUSEGW_CONFIG_SNAPSHOT_H
#define REUSEGW_CONFIG_SNAPSHOT_H

#include "config/config.h"

/* cfg_snapshot_new returns a snapshot holding every default of config.h,
 * with a reference count of one; required keys are left empty. Release it
 * with cfg_unref, which frees whatever the loader attached. */
struct cfg_snapshot *cfg_snapshot_new(void);

#endif
