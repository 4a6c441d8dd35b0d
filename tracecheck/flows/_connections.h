/* The TCP connection rules of connections.py as C functions, for the two compiled loops that
 * apply them: connections.split (_connections.c) and the flow builder's (_builder.c).
 * connections.py says the rules (Zeek's) and holds the same loop in Python, the reference the
 * tests compare both with.
 *
 * Timestamps and sequence numbers come from a capture: time differences are taken only when
 * positive, in unsigned arithmetic, so that no value wraps. */

#ifndef TRACECHECK_CONNECTIONS_H
#define TRACECHECK_CONNECTIONS_H

#include <stdint.h>

#define SECOND 1000000000LL
#define TCP_TIMEOUT_NS (300 * SECOND)
#define CLOSE_DELAY_NS (5 * SECOND)
#define ATTEMPT_DELAY_NS (5 * SECOND)
#define NONE (-1)
enum { FIN = 0x01, SYN = 0x02, RST = 0x04, ACK = 0x10 };
enum { OPEN, LAST_TS, ISN, CLOSE, CLOSED_TS, ATTEMPT_FROM, SYN_SIDE, SEEN, STATE_COLUMNS };
enum { FIN_0 = 1, FIN_1 = 2, RESET = 4 };
enum { SIDE_0 = 1, SIDE_1 = 2, NOT_SYNACK = 4 };

/* ts more than `by` after `then` (then unset: never). */
static inline int later(int64_t ts, int64_t then, int64_t by)
{
    return then != NONE && ts > then && (uint64_t)ts - (uint64_t)then > (uint64_t)by;
}

static inline int starts_anew(const int64_t *s, int64_t ts, int64_t flags, int64_t seq)
{
    if (!s[OPEN] || later(ts, s[LAST_TS], TCP_TIMEOUT_NS))
        return 1;
    if (later(ts, s[CLOSED_TS], CLOSE_DELAY_NS) || later(ts, s[ATTEMPT_FROM], ATTEMPT_DELAY_NS))
        return 1;
    if ((flags & (SYN | ACK)) != SYN)
        return 0;
    if (s[CLOSE])
        return 1;
    if (s[ISN] != NONE)
        return seq != s[ISN];
    return (s[SEEN] & NOT_SYNACK) != 0;
}

static inline void account(int64_t *s, int64_t ts, int64_t flags, int64_t seq, int64_t side)
{
    int64_t side_bit = side ? SIDE_1 : SIDE_0;
    if ((flags & (SYN | ACK)) == SYN && s[ISN] == NONE) {
        s[ISN] = seq;
        if (s[SEEN] == 0) {  /* the connection opens with this SYN: an attempt until answered */
            s[ATTEMPT_FROM] = ts;
            s[SYN_SIDE] = side;
        }
    }
    if (s[SYN_SIDE] != NONE && side != s[SYN_SIDE])
        s[ATTEMPT_FROM] = NONE;
    if ((flags & (SYN | ACK)) != (SYN | ACK))
        s[SEEN] |= NOT_SYNACK;
    s[SEEN] |= side_bit;
    if (flags & RST)
        s[CLOSE] |= RESET;
    if (flags & FIN)
        s[CLOSE] |= side ? FIN_1 : FIN_0;
    int64_t fins = s[CLOSE] & (FIN_0 | FIN_1);
    if (s[CLOSED_TS] == NONE
        && ((s[CLOSE] & RESET) || fins == (FIN_0 | FIN_1) || (fins && (s[SEEN] & (SIDE_0 | SIDE_1)) == fins)))
        s[CLOSED_TS] = ts;
    if (ts > s[LAST_TS])
        s[LAST_TS] = ts;
}

#endif
