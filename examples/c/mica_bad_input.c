/* Bad input through Mica's C API, from C: null pointers, garbage settings, a
 * frame of the wrong size, a truncated and a garbage stream. Every call must
 * come back with the documented error code and a message, never crash; run
 * under AddressSanitizer in CI (scripts/check-c-api.sh). Exit 0 when every
 * check holds.
 *
 * Build: cc mica_bad_input.c $(pkg-config --cflags --libs mica) */
#include <mica/mica.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures = 0;

static void expect(const char *what, MicaStatus got, MicaStatus want, const char *in_message) {
    const char *message = mica_error_message();
    if (got != want || (in_message && !strstr(message, in_message))) {
        fprintf(stderr, "FAIL %s: status %d (want %d), message \"%s\" (want \"%s\")\n", what,
                (int)got, (int)want, message, in_message ? in_message : "");
        failures++;
    } else {
        printf("ok   %s: %s\n", what, got < 0 ? message : "(no error)");
    }
}

int main(void) {
    MicaSettings *settings = mica_settings_new();
    MicaEncoder *enc = NULL;
    MicaDecoder *dec = NULL;

    /* Garbage settings. */
    expect("unknown key", mica_settings_set(settings, "bogus", "1"), MICA_ERROR_SETTING,
           "unknown setting 'bogus'");
    expect("bad value", mica_settings_set(settings, "qp", "-100"), MICA_ERROR_SETTING,
           "setting 'qp' does not take '-100'");
    expect("null key", mica_settings_set(settings, NULL, "1"), MICA_ERROR_NULL, "key is null");
    expect("null settings", mica_settings_set(NULL, "qp", "1"), MICA_ERROR_NULL, NULL);
    expect("encoder without a size", mica_encoder_new(settings, &enc), MICA_ERROR_SETTING,
           "'width' is missing");
    expect("null out pointer", mica_encoder_new(settings, NULL), MICA_ERROR_NULL, NULL);

    /* A frame of the wrong size, then a good one. */
    expect("width", mica_settings_set(settings, "width", "64"), MICA_OK, NULL);
    expect("height", mica_settings_set(settings, "height", "32"), MICA_OK, NULL);
    expect("gop", mica_settings_set(settings, "gop", "low-delay"), MICA_OK, NULL);
    expect("encoder", mica_encoder_new(settings, &enc), MICA_OK, NULL);
    static unsigned char y[64 * 32], u[32 * 16], v[32 * 16];
    memset(y, 100, sizeof y);
    memset(u, 128, sizeof u);
    memset(v, 128, sizeof v);
    MicaPicture pic = {.width = 48, .height = 32, .bit_depth = 8, .planes = {y, u, v},
                       .strides = {64, 32, 32}};
    expect("wrong frame size", mica_encoder_send_frame(enc, &pic), MICA_ERROR_FRAME,
           "picture is 48x32");
    pic.width = 64;
    pic.strides[1] = 8;
    expect("short stride", mica_encoder_send_frame(enc, &pic), MICA_ERROR_FRAME, "stride");
    pic.strides[1] = 32;
    pic.planes[2] = NULL;
    expect("null plane", mica_encoder_send_frame(enc, &pic), MICA_ERROR_NULL, "plane 2");
    pic.planes[2] = v;
    expect("null picture", mica_encoder_send_frame(enc, NULL), MICA_ERROR_NULL, NULL);
    expect("null encoder", mica_encoder_send_frame(NULL, &pic), MICA_ERROR_NULL, NULL);
    expect("good frame", mica_encoder_send_frame(enc, &pic), MICA_OK, NULL);
    memset(y, 90, sizeof y);
    pic.planes[0] = y;
    expect("second frame", mica_encoder_send_frame(enc, &pic), MICA_OK, NULL);
    expect("flush", mica_encoder_flush(enc), MICA_OK, NULL);
    expect("send after flush", mica_encoder_send_frame(enc, &pic), MICA_ERROR_STATE, "flushed");

    /* Keep the two packets. */
    unsigned char *packets[2] = {NULL, NULL};
    size_t sizes[2] = {0, 0};
    for (int i = 0; i < 2; i++) {
        MicaPacket *p = NULL;
        expect("packet", mica_encoder_receive_packet(enc, &p), MICA_OK, NULL);
        if (!p) return 1;
        packets[i] = malloc(p->size);
        memcpy(packets[i], p->data, p->size);
        sizes[i] = p->size;
        mica_packet_free(p);
    }
    MicaPacket *none = NULL;
    expect("end of packets", mica_encoder_receive_packet(enc, &none), MICA_END, NULL);
    mica_encoder_free(enc);

    /* Decoder settings must be the decoder's. */
    expect("encoder key given to a decoder", mica_decoder_new(settings, &dec), MICA_ERROR_SETTING,
           "not one a decoder reads");
    mica_settings_free(settings);
    settings = mica_settings_new();
    expect("frame-delay", mica_settings_set(settings, "frame-delay", "1"), MICA_OK, NULL);
    expect("decoder", mica_decoder_new(settings, &dec), MICA_OK, NULL);
    expect("null data", mica_decoder_send_data(dec, NULL, 4), MICA_ERROR_NULL, "data is null");
    expect("first packet", mica_decoder_send_data(dec, packets[0], sizes[0]), MICA_OK, NULL);
    expect("truncated packet", mica_decoder_send_data(dec, packets[1], sizes[1] / 2),
           MICA_ERROR_STREAM, "invalid bitstream");
    expect("data after an error", mica_decoder_send_data(dec, packets[1], sizes[1]),
           MICA_ERROR_STATE, "earlier error");
    MicaPicture *out = NULL;
    expect("the frame before the error", mica_decoder_get_picture(dec, &out), MICA_OK, NULL);
    if (!out || out->width != 64 || out->height != 32 || out->frame_number != 0) failures++;
    mica_picture_free(out);
    expect("then the end", mica_decoder_get_picture(dec, &out), MICA_END, NULL);
    mica_decoder_free(dec);

    expect("decoder with defaults", mica_decoder_new(NULL, &dec), MICA_OK, NULL);
    static const unsigned char garbage[] = "certainly not a Mica packet";
    MicaStatus s = mica_decoder_send_data(dec, garbage, sizeof garbage);
    if (s == MICA_OK) s = mica_decoder_flush(dec);
    expect("garbage stream", s, MICA_ERROR_STREAM, "invalid bitstream");
    mica_decoder_free(dec);

    mica_settings_free(settings);
    free(packets[0]);
    free(packets[1]);
    /* Freeing null is allowed. */
    mica_settings_free(NULL);
    mica_encoder_free(NULL);
    mica_decoder_free(NULL);
    mica_packet_free(NULL);
    mica_picture_free(NULL);
    printf("libmica %s: %s\n", mica_version(), failures ? "FAILED" : "all checks hold");
    return failures ? 1 : 0;
}
