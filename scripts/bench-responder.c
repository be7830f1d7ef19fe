/*
 * bench-responder: the throughput ceiling for scripts/bench. Answers every DNS query with a
 * fixed NXDOMAIN: the query's header and question copied, QR and RA set, RD kept, RCODE 3,
 * no records (an OPT or anything after the question is dropped). No parsing beyond finding
 * the end of the question; a packet shorter than a header, or with QR already set, is ignored.
 *
 *   bench-responder ADDRESS PORT THREADS MAX_SECONDS
 *
 * THREADS single-threaded loops (recvmmsg / sendmmsg, 64 datagrams a call), each with its own
 * UDP socket bound to ADDRESS:PORT with SO_REUSEPORT, so the kernel spreads clients over them
 * as it does for block-resolver's event loops and unbound's threads. The process ends itself
 * after MAX_SECONDS (SIGALRM) in case nobody stops it. Prints "ready" once every socket is bound.
 *
 *   gcc -O2 -pthread -o bench-out/bench-responder scripts/bench-responder.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define BATCH 64
#define BUFFER 4096
#define MAX_THREADS 64

static struct sockaddr_in address;

static int open_socket(void) {
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    int one = 1, size = 4 << 20;
    if (fd < 0) { perror("socket"); exit(1); }
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0) { perror("SO_REUSEPORT"); exit(1); }
    /* Best effort: the kernel caps these at net.core.[rw]mem_max. */
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
    if (bind(fd, (struct sockaddr *)&address, sizeof address) < 0) { perror("bind"); exit(1); }
    return fd;
}

/* Length of header + question, or 0 when the question does not parse. */
static size_t question_end(const unsigned char *packet, size_t length) {
    size_t offset = 12;
    if (((packet[4] << 8) | packet[5]) != 1) return 0;
    for (int labels = 0; labels < 128; labels++) {
        if (offset >= length) return 0;
        unsigned char label = packet[offset];
        if (label == 0) {
            offset += 1 + 4; /* root label, QTYPE, QCLASS */
            return offset <= length ? offset : 0;
        }
        if (label & 0xC0) return 0; /* no compression in a question */
        offset += 1 + label;
    }
    return 0;
}

static void *serve(void *argument) {
    int fd = (int)(long)argument;
    static __thread unsigned char buffers[BATCH][BUFFER];
    static __thread struct sockaddr_in peers[BATCH];
    struct mmsghdr in[BATCH], out[BATCH];
    struct iovec in_vectors[BATCH], out_vectors[BATCH];

    for (int i = 0; i < BATCH; i++) {
        in_vectors[i].iov_base = buffers[i];
        in_vectors[i].iov_len = BUFFER;
        memset(&in[i], 0, sizeof in[i]);
        in[i].msg_hdr.msg_iov = &in_vectors[i];
        in[i].msg_hdr.msg_iovlen = 1;
        in[i].msg_hdr.msg_name = &peers[i];
    }
    for (;;) {
        for (int i = 0; i < BATCH; i++) in[i].msg_hdr.msg_namelen = sizeof peers[i];
        int count = recvmmsg(fd, in, BATCH, MSG_WAITFORONE, NULL);
        if (count < 0) {
            if (errno == EINTR) continue;
            perror("recvmmsg");
            exit(1);
        }
        int replies = 0;
        for (int i = 0; i < count; i++) {
            unsigned char *packet = buffers[i];
            size_t length = in[i].msg_len;
            if (length < 12 || (packet[2] & 0x80)) continue;
            size_t end = question_end(packet, length);
            packet[2] = (unsigned char)((packet[2] & 0x79) | 0x80);   /* QR, keep opcode and RD, clear AA TC */
            packet[3] = 0x80 | 3;                                    /* RA, RCODE NXDOMAIN */
            if (end) {
                memset(packet + 6, 0, 6);                            /* AN, NS, AR counts */
            } else {
                memset(packet + 4, 0, 8);                            /* header only */
                end = 12;
            }
            out_vectors[replies].iov_base = packet;
            out_vectors[replies].iov_len = end;
            memset(&out[replies], 0, sizeof out[replies]);
            out[replies].msg_hdr.msg_iov = &out_vectors[replies];
            out[replies].msg_hdr.msg_iovlen = 1;
            out[replies].msg_hdr.msg_name = &peers[i];
            out[replies].msg_hdr.msg_namelen = in[i].msg_hdr.msg_namelen;
            replies++;
        }
        int sent = 0;
        while (sent < replies) {
            int done = sendmmsg(fd, out + sent, (unsigned)(replies - sent), 0);
            if (done < 0) {
                if (errno == EINTR) continue;
                break; /* a full socket buffer drops the rest, like any UDP server */
            }
            sent += done;
        }
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: %s ADDRESS PORT THREADS MAX_SECONDS\n", argv[0]);
        return 2;
    }
    memset(&address, 0, sizeof address);
    address.sin_family = AF_INET;
    address.sin_port = htons((unsigned short)atoi(argv[2]));
    if (inet_pton(AF_INET, argv[1], &address.sin_addr) != 1) {
        fprintf(stderr, "bench-responder: not an IPv4 address: %s\n", argv[1]);
        return 2;
    }
    int threads = atoi(argv[3]), seconds = atoi(argv[4]);
    if (threads < 1 || threads > MAX_THREADS || seconds < 1) {
        fprintf(stderr, "bench-responder: THREADS must be 1-%d and MAX_SECONDS at least 1\n", MAX_THREADS);
        return 2;
    }
    alarm((unsigned)seconds);
    int fds[MAX_THREADS];
    for (int i = 0; i < threads; i++) fds[i] = open_socket();
    pthread_t ids[MAX_THREADS];
    for (int i = 1; i < threads; i++) {
        if (pthread_create(&ids[i], NULL, serve, (void *)(long)fds[i]) != 0) {
            fprintf(stderr, "bench-responder: pthread_create failed\n");
            return 1;
        }
    }
    printf("ready\n");
    fflush(stdout);
    serve((void *)(long)fds[0]);
    return 0;
}
