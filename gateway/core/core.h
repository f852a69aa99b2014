/* core/ — the bottom layer of gateway/ (this header is its manual; it
 * declares nothing).
 *
 * Owns the mechanisms every layer above runs on, one per file pair:
 *   loop.h          the event-loop interface; loop_backend.h, loop_uring.c
 *                   and loop_epoll.c implement it, io_backend.h picks one
 *   tag.h           the completion tags loop operations carry
 *   timer.h         the timer heap, and the loop turn's clock (now_ms)
 *   buf.h           the fixed-size block pool and byte queues
 *   strbuf.h        one bounded appender for text bodies
 *   log.h           structured, rate-limited logging
 *   metrics.h       the registry of every event count (each layer bumps it)
 *   addr.h          configured host:port to sockaddr
 *   handoff_ring.h  the single-producer single-consumer byte ring
 *   proxy_proto.h   the PROXY protocol (v1/v2) header parser: a pure
 *                   function of the caller's bytes
 *   sd_notify.h     systemd's notification datagrams (READY, WATCHDOG...)
 *
 * Borrows nothing past a call beyond what each header says. Never names a
 * connection, a SIP message's meaning, or any folder above it: it includes
 * only itself, sip/ (error codes the registry counts) and config/. */
#ifndef REUSEGW_CORE_H
#define REUSEGW_CORE_H
#endif
