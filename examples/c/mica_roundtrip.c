/* Encodes a y4m file to an IVF stream and decodes that stream back to raw
 * planes, through Mica's C API only (libmica: scripts/install-c.sh).
 *
 *   mica_roundtrip INPUT.y4m OUTPUT.ivf DECODED.yuv [key=value ...]
 *
 * key=value pairs are encoder settings (mica_settings_set), e.g. qp=37.
 * DECODED.yuv holds the decoded frames' samples, plane after plane (8-bit
 * samples as bytes, deeper ones as two little-endian bytes): its MD5 is what
 * `micadec OUTPUT.ivf --md5` prints.
 *
 * Build: cc mica_roundtrip.c $(pkg-config --cflags --libs mica) */
#include <mica/mica.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(const char *what, MicaStatus status) {
    fprintf(stderr, "mica_roundtrip: %s failed (%d): %s\n", what, (int)status,
            mica_error_message());
    return 1;
}

/* The y4m header's fields this example needs. */
typedef struct {
    unsigned width, height, fps_num, fps_den, bit_depth;
} Y4mInfo;

static int read_line(FILE *f, char *buf, size_t size) {
    size_t n = 0;
    int c;
    while ((c = fgetc(f)) != EOF && c != '\n') {
        if (n + 1 >= size) return -1;
        buf[n++] = (char)c;
    }
    buf[n] = 0;
    return (c == EOF && n == 0) ? 0 : 1;
}

static int parse_y4m_header(FILE *f, Y4mInfo *info) {
    char line[1024];
    if (read_line(f, line, sizeof line) != 1 || strncmp(line, "YUV4MPEG2 ", 10) != 0) return -1;
    info->fps_num = 25;
    info->fps_den = 1;
    info->bit_depth = 8;
    info->width = info->height = 0;
    for (char *tok = strtok(line + 10, " "); tok; tok = strtok(NULL, " ")) {
        switch (tok[0]) {
        case 'W': info->width = (unsigned)strtoul(tok + 1, NULL, 10); break;
        case 'H': info->height = (unsigned)strtoul(tok + 1, NULL, 10); break;
        case 'F':
            if (sscanf(tok + 1, "%u:%u", &info->fps_num, &info->fps_den) != 2) return -1;
            break;
        case 'C':
            if (strncmp(tok + 1, "420p10", 6) == 0) info->bit_depth = 10;
            else if (strncmp(tok + 1, "420", 3) != 0) return -1; /* 4:2:0 only */
            break;
        default: break;
        }
    }
    return (info->width && info->height && info->fps_num && info->fps_den) ? 0 : -1;
}

static int write_u32(FILE *f, unsigned v) {
    unsigned char b[4] = {v & 255, (v >> 8) & 255, (v >> 16) & 255, (v >> 24) & 255};
    return fwrite(b, 1, 4, f) == 4 ? 0 : -1;
}

static int write_u16(FILE *f, unsigned v) {
    unsigned char b[2] = {v & 255, (v >> 8) & 255};
    return fwrite(b, 1, 2, f) == 2 ? 0 : -1;
}

static unsigned read_u32(const unsigned char *b) {
    return (unsigned)b[0] | ((unsigned)b[1] << 8) | ((unsigned)b[2] << 16) | ((unsigned)b[3] << 24);
}

/* The IVF file header (32 bytes); the frame count is patched at the end. */
static int write_ivf_header(FILE *f, const Y4mInfo *in) {
    if (fwrite("DKIF", 1, 4, f) != 4 || write_u16(f, 0) || write_u16(f, 32) ||
        fwrite("MICA", 1, 4, f) != 4 || write_u16(f, in->width) || write_u16(f, in->height) ||
        write_u32(f, in->fps_num) || write_u32(f, in->fps_den) || write_u32(f, 0) ||
        write_u32(f, 0))
        return -1;
    return 0;
}

static int write_ivf_frame(FILE *f, const MicaPacket *p) {
    if (write_u32(f, (unsigned)p->size) || write_u32(f, (unsigned)(p->frame_number & 0xffffffffu)) ||
        write_u32(f, (unsigned)(p->frame_number >> 32)) || fwrite(p->data, 1, p->size, f) != p->size)
        return -1;
    return 0;
}

/* Takes every packet the encoder has ready into the IVF file. */
static int drain_encoder(MicaEncoder *enc, FILE *ivf, unsigned *frames) {
    for (;;) {
        MicaPacket *packet = NULL;
        MicaStatus s = mica_encoder_receive_packet(enc, &packet);
        if (s == MICA_AGAIN || s == MICA_END) return 0;
        if (s != MICA_OK) return fail("mica_encoder_receive_packet", s);
        int bad = write_ivf_frame(ivf, packet);
        mica_packet_free(packet);
        if (bad) {
            fprintf(stderr, "mica_roundtrip: cannot write the IVF file\n");
            return 1;
        }
        ++*frames;
    }
}

static int encode(const char *in_path, const char *ivf_path, int argc, char **argv) {
    FILE *in = fopen(in_path, "rb");
    if (!in) {
        perror(in_path);
        return 1;
    }
    Y4mInfo info;
    if (parse_y4m_header(in, &info)) {
        fprintf(stderr, "mica_roundtrip: %s is not a 4:2:0 y4m file this example reads\n", in_path);
        fclose(in);
        return 1;
    }
    MicaSettings *settings = mica_settings_new();
    char value[64];
    int rc = 1;
    MicaEncoder *enc = NULL;
    FILE *ivf = NULL;
    unsigned char *frame = NULL;
    const char *keys[] = {"width", "height", "fps", "input-bit-depth"};
    unsigned chroma_w = (info.width + 1) / 2, chroma_h = (info.height + 1) / 2;
    unsigned sample = info.bit_depth > 8 ? 2 : 1;
    for (int i = 0; i < 4; i++) {
        if (i == 0) snprintf(value, sizeof value, "%u", info.width);
        if (i == 1) snprintf(value, sizeof value, "%u", info.height);
        if (i == 2) snprintf(value, sizeof value, "%u/%u", info.fps_num, info.fps_den);
        if (i == 3) snprintf(value, sizeof value, "%u", info.bit_depth);
        MicaStatus s = mica_settings_set(settings, keys[i], value);
        if (s != MICA_OK) {
            fail("mica_settings_set", s);
            goto out;
        }
    }
    for (int i = 0; i < argc; i++) {
        char *eq = strchr(argv[i], '=');
        if (!eq) {
            fprintf(stderr, "mica_roundtrip: '%s' is not key=value\n", argv[i]);
            goto out;
        }
        *eq = 0;
        MicaStatus s = mica_settings_set(settings, argv[i], eq + 1);
        if (s != MICA_OK) {
            fail("mica_settings_set", s);
            goto out;
        }
    }
    MicaStatus s = mica_encoder_new(settings, &enc);
    if (s != MICA_OK) {
        fail("mica_encoder_new", s);
        goto out;
    }
    ivf = fopen(ivf_path, "wb");
    if (!ivf || write_ivf_header(ivf, &info)) {
        perror(ivf_path);
        goto out;
    }
    size_t luma = (size_t)info.width * info.height * sample;
    size_t chroma = (size_t)chroma_w * chroma_h * sample;
    frame = malloc(luma + 2 * chroma);
    if (!frame) goto out;
    unsigned packets = 0;
    char line[256];
    for (;;) {
        int got = read_line(in, line, sizeof line);
        if (got == 0) break;
        if (got < 0 || strncmp(line, "FRAME", 5) != 0) {
            fprintf(stderr, "mica_roundtrip: %s: bad frame header\n", in_path);
            goto out;
        }
        if (fread(frame, 1, luma + 2 * chroma, in) != luma + 2 * chroma) {
            fprintf(stderr, "mica_roundtrip: %s: truncated frame\n", in_path);
            goto out;
        }
        MicaPicture pic = {
            .width = info.width,
            .height = info.height,
            .bit_depth = info.bit_depth,
            .planes = {frame, frame + luma, frame + luma + chroma},
            .strides = {(ptrdiff_t)(info.width * sample), (ptrdiff_t)(chroma_w * sample),
                        (ptrdiff_t)(chroma_w * sample)},
        };
        s = mica_encoder_send_frame(enc, &pic);
        if (s != MICA_OK) {
            fail("mica_encoder_send_frame", s);
            goto out;
        }
        if (drain_encoder(enc, ivf, &packets)) goto out;
    }
    s = mica_encoder_flush(enc);
    if (s != MICA_OK) {
        fail("mica_encoder_flush", s);
        goto out;
    }
    if (drain_encoder(enc, ivf, &packets)) goto out;
    /* The frame count, at offset 24. */
    if (fseek(ivf, 24, SEEK_SET) || write_u32(ivf, packets)) {
        perror(ivf_path);
        goto out;
    }
    fprintf(stderr, "encoded %u frames (%ux%u, %u-bit) into %s\n", packets, info.width, info.height,
            info.bit_depth, ivf_path);
    rc = 0;
out:
    free(frame);
    if (ivf && fclose(ivf)) rc = 1;
    mica_encoder_free(enc);
    mica_settings_free(settings);
    fclose(in);
    return rc;
}

/* Writes every picture the decoder has ready, plane by plane, rows without
 * their stride padding. */
static int drain_decoder(MicaDecoder *dec, FILE *out, unsigned *frames) {
    for (;;) {
        MicaPicture *pic = NULL;
        MicaStatus s = mica_decoder_get_picture(dec, &pic);
        if (s == MICA_AGAIN || s == MICA_END) return 0;
        if (s != MICA_OK) return fail("mica_decoder_get_picture", s);
        unsigned sample = pic->bit_depth > 8 ? 2 : 1;
        int bad = 0;
        for (int p = 0; p < 3 && !bad; p++) {
            unsigned w = p ? (pic->width + 1) / 2 : pic->width;
            unsigned h = p ? (pic->height + 1) / 2 : pic->height;
            const unsigned char *row = pic->planes[p];
            for (unsigned y = 0; y < h && !bad; y++, row += pic->strides[p]) {
                if (sample == 1) {
                    bad = fwrite(row, 1, w, out) != w;
                } else {
                    for (unsigned x = 0; x < w && !bad; x++) {
                        uint16_t v;
                        memcpy(&v, row + 2 * x, 2);
                        bad = write_u16(out, v) != 0;
                    }
                }
            }
        }
        mica_picture_free(pic);
        if (bad) {
            fprintf(stderr, "mica_roundtrip: cannot write the decoded file\n");
            return 1;
        }
        ++*frames;
    }
}

static int decode(const char *ivf_path, const char *yuv_path) {
    FILE *ivf = fopen(ivf_path, "rb");
    if (!ivf) {
        perror(ivf_path);
        return 1;
    }
    FILE *out = NULL;
    MicaDecoder *dec = NULL;
    unsigned char *data = NULL;
    int rc = 1;
    unsigned char header[32];
    if (fread(header, 1, 32, ivf) != 32 || memcmp(header, "DKIF", 4) != 0 ||
        memcmp(header + 8, "MICA", 4) != 0) {
        fprintf(stderr, "mica_roundtrip: %s is not a Mica IVF file\n", ivf_path);
        goto out;
    }
    MicaStatus s = mica_decoder_new(NULL, &dec);
    if (s != MICA_OK) {
        fail("mica_decoder_new", s);
        goto out;
    }
    out = fopen(yuv_path, "wb");
    if (!out) {
        perror(yuv_path);
        goto out;
    }
    unsigned frames = 0;
    unsigned char frame_header[12];
    while (fread(frame_header, 1, 12, ivf) == 12) {
        unsigned size = read_u32(frame_header);
        unsigned char *grown = realloc(data, size ? size : 1);
        if (!grown) goto out;
        data = grown;
        if (fread(data, 1, size, ivf) != size) {
            fprintf(stderr, "mica_roundtrip: %s: truncated frame\n", ivf_path);
            goto out;
        }
        s = mica_decoder_send_data(dec, data, size);
        if (s != MICA_OK) {
            fail("mica_decoder_send_data", s);
            goto out;
        }
        if (drain_decoder(dec, out, &frames)) goto out;
    }
    s = mica_decoder_flush(dec);
    if (s != MICA_OK) {
        fail("mica_decoder_flush", s);
        goto out;
    }
    if (drain_decoder(dec, out, &frames)) goto out;
    fprintf(stderr, "decoded %u frames into %s\n", frames, yuv_path);
    rc = 0;
out:
    free(data);
    if (out && fclose(out)) rc = 1;
    mica_decoder_free(dec);
    fclose(ivf);
    return rc;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr,
                "usage: mica_roundtrip INPUT.y4m OUTPUT.ivf DECODED.yuv [key=value ...]\n"
                "(libmica %s)\n",
                mica_version());
        return 2;
    }
    if (encode(argv[1], argv[2], argc - 4, argv + 4)) return 1;
    return decode(argv[2], argv[3]);
}
