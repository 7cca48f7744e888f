/* fleet_metrics.c — the fleet's figures in the relay's /metrics (fleet.h): unlabelled
 * Prometheus text, appended after the rules' and transport's series. */
#include "relay/fleet.h"

#include <stdio.h>
#include <stdlib.h>

char *fleet_metrics_render(const struct fleet *f, size_t *len)
{
    const struct fleet_stats *st = fleet_stats(f);
    char *buf = NULL;
    size_t size = 0;
    FILE *o = open_memstream(&buf, &size);
    if (!o)
        return NULL;
#define C(name, help, v)                                                                           \
    fprintf(o,                                                                                     \
            "# HELP roomstate_relay_" name " " help "\n# TYPE roomstate_relay_" name               \
            " counter\nroomstate_relay_" name " %llu\n",                                           \
            (unsigned long long)(v))
#define G(name, help, v)                                                                           \
    fprintf(o,                                                                                     \
            "# HELP roomstate_relay_" name " " help "\n# TYPE roomstate_relay_" name " gauge\n"    \
            "roomstate_relay_" name " %llu\n",                                                     \
            (unsigned long long)(v))
    G("rooms_hosted", "Rooms this relay serves now under its lease.", fleet_rooms_hosted(f));
    G("leases_held", "Room leases this relay holds now.", fleet_leases_held(f));
    C("leases_acquired_total", "Room leases taken.", st->leases_acquired);
    C("leases_renewed_total", "Room lease renewals answered 200.", st->leases_renewed);
    C("leases_lost_total", "Room leases lost (409 lease-lost, or not renewed in time).",
      st->leases_lost);
    C("leases_taken_over_total",
      "Room leases taken after another relay's lease on the room ran out (crash, pause).",
      st->leases_taken_over);
    C("leases_held_elsewhere_total", "Lease requests answered 409 lease-held.",
      st->leases_held_elsewhere);
    C("leases_released_total", "Room leases released (drain, room freed).", st->leases_released);
    C("lease_errors_total", "Lease requests without a usable answer (timeout, 5xx, other).",
      st->lease_errors);
    C("checkpoints_written_total", "Room checkpoints stored (200).", st->checkpoints_written);
    C("checkpoints_failed_total", "Room checkpoints not stored (any other answer).",
      st->checkpoints_failed);
    C("checkpoint_bytes_total", "Bytes of the room checkpoints stored.", st->checkpoint_bytes);
    C("checkpoints_deleted_total", "Room checkpoints deleted when an empty room was freed.",
      st->checkpoints_deleted);
    fprintf(o,
            "# HELP roomstate_relay_checkpoint_seconds Time to store a room checkpoint "
            "(request sent to answer), stored ones.\n"
            "# TYPE roomstate_relay_checkpoint_seconds summary\n"
            "roomstate_relay_checkpoint_seconds_sum %.6f\n"
            "roomstate_relay_checkpoint_seconds_count %llu\n",
            st->checkpoint_seconds, (unsigned long long)st->checkpoints_written);
    C("rooms_restored_checkpoint_total", "Rooms created from a live checkpoint.",
      st->restored_checkpoint);
    C("rooms_restored_save_total", "Rooms created from their saved state.", st->restored_save);
    C("rooms_restored_none_total", "Rooms created with nothing to restore.", st->restored_none);
    C("rooms_unleased_total",
      "Rooms hosted without lease or checkpoints (server unreachable or without the fleet API).",
      st->rooms_unleased);
    C("rooms_refused_total", "Rooms closed before they were served (no lease, state unreadable).",
      st->rooms_refused);
#undef C
#undef G
    if (fclose(o) != 0) {
        free(buf);
        return NULL;
    }
    *len = size;
    return buf;
}
