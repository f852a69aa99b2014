# bench/ladder/profile.awk: folds perf report's flat profile of reusegw
# (`perf report --no-children --sort dso,symbol --stdio -g none`) into the
# cost classes of issue 19, and prints each class's share and its
# microseconds per transaction.
#
#   awk -v us_per_tx=3.1 -f profile.awk profile.txt
#
# us_per_tx: reusegw's CPU microseconds per transaction in the profiled step
# (1e6 / transactions per relay CPU-second). The classes go by library and
# symbol name; memchr goes to SIP parsing, whose header scans are its only
# caller on the hot path (sip/ looks for CR, LF, ':' and ',' with it).
# Unnamed libcrypto addresses are BoringSSL's assembly (AES-GCM and GHASH
# kernels carry no symbols in Debian's android-libboringssl).

function class(dso, sym) {
    if (dso == "[kernel.kallsyms]") {
        if (sym ~ /copy_(to|from)_iter|skb_datagram_iter|copy_user|memcpy/)
            return "kernel: copies to and from sockets"
        if (sym ~ /^(__)?io_|io_uring/)
            return "kernel: io_uring submission and completion"
        return "kernel: TCP/IP, loopback, softirq, scheduling"
    }
    if (dso ~ /^libcrypto/) {
        if (sym ~ /gcm|aes|AEAD|aead|^0x/)
            return "AES-GCM (BoringSSL seal/open)"
        return "BoringSSL bookkeeping (errors, BIOs, free, thread locals)"
    }
    if (dso ~ /^libssl/)
        return "TLS record framing (libssl)"
    if (sym ~ /^(__)?mem(move|cpy|set)/)
        return "copies in user space (memmove, memcpy, memset)"
    if (sym ~ /malloc|free|^_int_|^cfree|realloc|calloc/)
        return "allocation (malloc, free)"
    if (sym ~ /^sip_framer|^conn_frame|^content_length_value|^sip_content_length/)
        return "SIP framing"
    if (sym ~ /^sip_|^memchr|^__memchr|^is_version/)
        return "SIP parsing (sip/)"
    if (dso == "reusegw")
        return "relay bookkeeping (relay, connections, pending, alias)"
    return "other (" dso ")"
}

/^#/ || NF < 3 { next }
{
    pct = $1
    sub(/%$/, "", pct)
    dso = $2
    sym = $4
    c = class(dso, sym)
    share[c] += pct
    total += pct
    if (!(c in top) || pct > topv[c]) {
        top[c] = sym
        topv[c] = pct
    }
}
END {
    printf "| cost class | share of reusegw CPU | µs per transaction | largest symbol |\n"
    printf "|---|---:|---:|---|\n"
    n = 0
    for (c in share)
        order[n++] = c
    for (i = 0; i < n; i++)
        for (j = i + 1; j < n; j++)
            if (share[order[j]] > share[order[i]]) {
                t = order[i]
                order[i] = order[j]
                order[j] = t
            }
    for (i = 0; i < n; i++) {
        c = order[i]
        printf "| %s | %.1f%% | %.3f | %s (%.1f%%) |\n", c, share[c],
            us_per_tx * share[c] / 100, top[c], topv[c]
    }
    printf "| all sampled symbols | %.1f%% | %.3f | |\n", total, us_per_tx * total / 100
}
