/*
 * Unit tests for relay/desc_check.c: the description-quality and profiling
 * check. Each case asserts the exact flag set, so a rule that stops firing,
 * or starts firing where it should not, fails the test.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "desc_check.h"
#include "error.h"

#define ORIGIN DESC_ORIGIN_ONLY
#define MENTIONS DESC_MENTIONS_ORIGIN
#define FEW DESC_FEW_DETAILS
#define ABBR DESC_ABBREVIATION
#define OFFENSIVE DESC_OFFENSIVE

struct example {
    const char *title;
    const char *body;
    const char *instruction;
    unsigned want;
};

/* Prints every mismatch, then fails once, so one run shows them all. */
static void run_examples(const struct example *ex, size_t n)
{
    int bad = 0;

    for (size_t i = 0; i < n; i++) {
        unsigned got = 0xFFFFu;

        assert_int_equal(
            desc_check(ex[i].title, ex[i].body, ex[i].instruction, &got),
            RELAY_OK);
        if (got != ex[i].want) {
            fprintf(stderr, "case %zu: \"%s\" / \"%s\": want 0x%x got 0x%x\n",
                    i, ex[i].title ? ex[i].title : "",
                    ex[i].body ? ex[i].body : "", ex[i].want, got);
            bad++;
        }
    }
    assert_int_equal(bad, 0);
}

#define RUN(a) run_examples(a, sizeof(a) / sizeof((a)[0]))

/* The examples from the brief and the sources: profiling in WhatsApp
 * groups ([S58]), "oostbloktype" ([S17]). */
static void test_origin_only(void **state)
{
    static const struct example ex[] = {
        {NULL, "Donkere man gezien in de straat", NULL, ORIGIN},
        {NULL, "Getinte jongen loopt bij de school", NULL, ORIGIN},
        {NULL, "Twee Marokkaanse jongens hangen rond bij het winkelcentrum",
         NULL, ORIGIN},
        {NULL, "Buitenlands uitziende man belt aan bij ouderen", NULL, ORIGIN},
        {NULL, "Man van Oost-Europese afkomst probeert deuren", NULL, ORIGIN},
        {NULL, "Allochtone vrouw bij de brievenbussen", NULL, ORIGIN},
        {NULL, "Lichtgetinte vrouw belt overal aan", NULL, ORIGIN},
        {NULL, "Man, zwart, 1.80 lang, loopt rond", NULL, ORIGIN},
        {NULL, "Zuidelijk type loopt rond bij de garages", NULL, ORIGIN},
        {NULL, "Vrouw met een donkere huidskleur bij de bushalte", NULL,
         ORIGIN},
        {NULL, "Man met Noord-Afrikaans uiterlijk op de fiets", NULL, ORIGIN},
        /* Title and body are one text. */
        {"Donkere man", "Loopt rond in de wijk", "Bel 112 als u iets ziet",
         ORIGIN},
        /* Shouted: no abbreviation for the capitals, still origin. */
        {"DONKERE MAN GEZIEN", NULL, NULL, ORIGIN},
        /* English. */
        {NULL, "Black guy hanging around the school", NULL, ORIGIN},
    };

    RUN(ex);
}

static void test_offensive(void **state)
{
    static const struct example ex[] = {
        {NULL,
         "Donkere man (negro\xc3\xaf"
         "de) loopt door de straat",
         NULL, ORIGIN | OFFENSIVE},
        /* Decomposed: i + U+0308 COMBINING DIAERESIS. */
        {NULL,
         "Negroi\xcc\x88"
         "de man bij de flat",
         NULL, ORIGIN | OFFENSIVE},
        {NULL, "Onverzorgd oostbloktype gezien bij de speeltuin", NULL,
         ORIGIN | OFFENSIVE},
        {NULL, "Zigeunerin bij de deur", NULL, ORIGIN | OFFENSIVE},
        {NULL, "kutmarokkanen weer bij de snackbar", NULL, ORIGIN | OFFENSIVE},
        /* A slur is flagged even next to a full description. */
        {NULL,
         "Tuig op scooter, jongen van 16, rode hoodie, zwarte helm, "
         "gooit stenen",
         NULL, OFFENSIVE},
    };

    RUN(ex);
}

/* Origin next to enough concrete details: the soft flag only. */
static void test_mentions_origin(void **state)
{
    static const struct example ex[] = {
        {NULL,
         "Man, donkere huidskleur, ca. 1.80 m, rood jack, blauwe "
         "spijkerbroek, fiets met oranje krat, rijdt richting centrum",
         NULL, MENTIONS | ABBR},
        {NULL,
         "Man, Noord-Afrikaans uiterlijk, ongeveer 25 jaar, zwarte "
         "trainingsbroek, witte sneakers, grijze rugzak, probeerde fietsen "
         "open te breken",
         NULL, MENTIONS},
        {NULL, "Zwarte man met rode jas en blauwe broek probeert autodeuren",
         NULL, MENTIONS},
    };

    RUN(ex);
}

/* Descriptions that do it right. */
static void test_clean_descriptions(void **state)
{
    static const struct example ex[] = {
        {NULL,
         "Vermist: man van 78, grijs haar, blauwe jas, loopt met rollator, "
         "is verward",
         NULL, 0},
        {"Gezocht: zilveren Opel Astra",
         "Zilveren Opel Astra met kenteken XX-123-Y reed met hoge snelheid "
         "weg na een inbraak.",
         "Ziet u de auto? Bel 112.", 0},
        /* Nationality of a vehicle is a detail, not origin. */
        {NULL,
         "Poolse bestelbus met Pools kenteken staat al dagen in de straat",
         NULL, 0},
        /* "donker" before hair is a hair colour. */
        {NULL, "Man met donker haar en een zwarte jas probeert autodeuren",
         NULL, 0},
        {NULL, "Vrouw met bruine ogen, zwarte hoofddoek en beige jas", NULL, 0},
        {NULL, "Man, 1.85 lang, tenger, blond haar, draagt bril", NULL, 0},
        {NULL, "Meisje (12) vermist, lang bruin haar, roze jas, paarse rugzak",
         NULL, 0},
        {NULL, "Man in donkerblauwe jas en lichtgrijze broek bij de school",
         NULL, 0},
        /* The language spoken is a detail for the searchers. */
        {NULL,
         "Vermist: vrouw van 84, spreekt alleen Turks, grijze regenjas, "
         "rollator",
         NULL, 0},
        /* "zwart" as clothing colour, not after a person noun. */
        {NULL, "Kleding: zwart. Man loopt met tas door de tuinen", NULL, 0},
        {NULL, "Rode Golf rijdt in zuidelijke richting weg", NULL, 0},
        {"VERMIST MEISJE", "Meisje van 9, roze jas, blond haar, paarse fiets",
         NULL, 0},
        /* Name initials are not abbreviations. */
        {NULL, "Vermist: J. de Vries (82), grijze jas, wandelstok", NULL, 0},
        {NULL, "Vermist: Piet K. (79), rode sjaal, rollator", NULL, 0},
        /* "m." after a number is the unit; "weg." ends a sentence. */
        {NULL,
         "Er liep een man weg. Hij droeg een rode jas en een zwarte pet. "
         "Hij is 1.80 m.",
         NULL, 0},
    };

    RUN(ex);
}

/* Posts that describe nobody, closing messages, and neutral mentions. */
static void test_no_description(void **state)
{
    static const struct example ex[] = {
        {NULL, NULL, NULL, 0},
        {"", "", "", 0},
        {NULL, "Inbraak in de Kerkstraat, 112 is gebeld", NULL, 0},
        {NULL, "Vermiste vrouw is gevonden, bedankt voor het uitkijken", NULL,
         0},
        {NULL, "Inbraak bij de Turkse bakker aan de Markt, 112 is gebeld", NULL,
         0},
        {NULL, "Wateroverlast, zet uw auto niet op de Dorpsweg", NULL, 0},
        {NULL, "Inbraak bij woning in 9401 AB, 112 is gebeld", NULL, 0},
        {NULL, "Meer informatie op www.politie.nl en nu.nl. Wij danken u.",
         NULL, 0},
        {"Gaslek",
         "Bel 112 bij gevaar. De BOA en de GGD zijn ter plaatse. Volg "
         "NL-Alert en RTV Drenthe.",
         NULL, 0},
    };

    RUN(ex);
}

static void test_few_details(void **state)
{
    static const struct example ex[] = {
        {NULL, "verdachte pers. bij auto", NULL, ABBR | FEW},
        {NULL, "Witte bestelbus rijdt langzaam door de wijk", NULL, FEW},
        {NULL, "Rode auto rijdt steeds rondjes om de school", NULL, FEW},
        {NULL, "Auto met getinte ramen rijdt rond, erg verdacht", NULL, FEW},
        /* "haar" as a pronoun is not hair. */
        {NULL, "Meisje (12) vermist, ze heeft haar fiets bij zich", NULL, FEW},
        {NULL, "Man belt aan en zegt van de energiemaatschappij te zijn", NULL,
         FEW},
        {NULL, "Gesign. vrw bij de garageboxen, bl. jas", NULL, ABBR | FEW},
        {NULL, "idd ff opletten, vm al iemand gezien bij nr 12", NULL,
         ABBR | FEW},
    };

    RUN(ex);
}

static void test_abbreviations(void **state)
{
    static const struct example ex[] = {
        {NULL,
         "Inbraak in de Dorpsstraat, i.v.m. onderzoek o.a. camerabeelden "
         "z.s.m. delen",
         NULL, ABBR},
        {"LET OP", "ivm werkzaamheden is de weg afgesloten", NULL, ABBR},
        {NULL, "Het NFI doet onderzoek naar de brand", NULL, ABBR},
        {NULL, "Man ong. 40 jr, bl. jas, grijze muts", NULL, ABBR},
        {NULL, "Man, kled. zwart, ongeveer 1.90 m", NULL, ABBR},
        {NULL, "verdachte m. met rode jas en zwarte muts", NULL, ABBR},
        {NULL, "Medewerker van de OBA vraagt om binnen te komen", NULL, ABBR},
        {NULL, "Om 14.30 u. een harde knal gehoord", NULL, ABBR},
        {NULL, "Jongen van ca 15 op scooter, zwarte helm, rode hoodie", NULL,
         ABBR},
        {NULL,
         "Man approx. 30 years, black jacket, blue jeans, red cap, tried "
         "car doors",
         NULL, ABBR},
        {NULL, "Brand in schuur", "Ramen en deuren sluiten a.u.b.", ABBR},
    };

    RUN(ex);
}

/* Invalid UTF-8 separates words like a space, invisible characters are
 * ignored (so neither hides a word); never an error. */
static void test_invalid_utf8(void **state)
{
    static const struct example ex[] = {
        {NULL, "Donkere\xffman gezien", NULL, ORIGIN},
        {NULL, "\xc3", NULL, 0},
        {NULL, "\xe2\x82", NULL, 0},
        {NULL, "\xed\xa0\x80 man \xf4\x90\x80\x80", NULL, FEW},
        {NULL, "jas\xc0\xaf man", NULL, FEW},
        /* Soft hyphen and zero-width space inside a word. */
        {NULL,
         "Don\xc2\xad"
         "kere man\xe2\x80\x8b gezien",
         NULL, ORIGIN},
        {NULL, "\xef\xbb\xbfGetinte\xe2\x81\xa0 jongen", NULL, ORIGIN},
    };

    RUN(ex);
}

static void test_errors_leave_output_alone(void **state)
{
    static char big[DESC_TEXT_MAX + 2];
    unsigned flags = 0xABCDu;

    assert_int_equal(desc_check("a", "b", "c", NULL), RELAY_EINVAL);

    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(desc_check(NULL, big, NULL, &flags), RELAY_ETOOBIG);
    assert_int_equal(desc_check(big, NULL, NULL, &flags), RELAY_ETOOBIG);
    assert_int_equal(desc_check(NULL, NULL, big, &flags), RELAY_ETOOBIG);
    assert_int_equal(flags, 0xABCDu);

    /* Exactly DESC_TEXT_MAX bytes is accepted. */
    big[DESC_TEXT_MAX] = '\0';
    assert_int_equal(desc_check(NULL, big, NULL, &flags), RELAY_OK);
    assert_int_equal(flags, 0);
}

/* A very long word is never matched, and does not overflow the token. */
static void test_long_tokens(void **state)
{
    static char text[4096];
    unsigned flags = 0;

    memset(text, 'x', sizeof(text) - 1);
    memcpy(text, "donkere", 7);
    text[sizeof(text) - 1] = '\0';
    assert_int_equal(desc_check(NULL, text, NULL, &flags), RELAY_OK);
    assert_int_equal(flags, 0);
}

/* Same input, same answer: no hidden state between calls. */
static void test_deterministic(void **state)
{
    const char *body = "Gesign. vrw bij de garageboxen, bl. jas";
    unsigned a = 0, b = 0;

    assert_int_equal(desc_check(NULL, body, NULL, &a), RELAY_OK);
    assert_int_equal(desc_check(NULL, "Donkere man", NULL, &b), RELAY_OK);
    assert_int_equal(desc_check(NULL, body, NULL, &b), RELAY_OK);
    assert_int_equal(a, b);
}

static void test_flag_names(void **state)
{
    const char *names[DESC_FLAG_COUNT + 1];
    static const char *const want[DESC_FLAG_COUNT] = {
        "origin_only", "mentions_origin", "few_details", "abbreviation",
        "offensive"};

    assert_int_equal(
        desc_flag_names(DESC_FLAGS_ALL, names, DESC_FLAG_COUNT + 1),
        DESC_FLAG_COUNT);
    for (unsigned i = 0; i < DESC_FLAG_COUNT; i++) {
        assert_string_equal(names[i], want[i]);
        assert_string_equal(desc_flag_name(1u << i), want[i]);
        assert_int_equal(desc_flag_from_name(want[i]), 1u << i);
        assert_non_null(desc_flag_message(1u << i));
    }
    assert_string_equal(desc_flag_name(DESC_ORIGIN_ONLY), "origin_only");
    assert_string_equal(desc_flag_message(DESC_ORIGIN_ONLY),
                        "Beschrijving noemt alleen huidskleur of afkomst; "
                        "voeg gedrag en kenmerken toe (kleding, lengte, "
                        "voertuig).");

    /* Only set bits, lowest first; the count may exceed cap. */
    assert_int_equal(
        desc_flag_names(DESC_ABBREVIATION | DESC_FEW_DETAILS, names, 1), 2);
    assert_string_equal(names[0], "few_details");
    assert_int_equal(desc_flag_names(DESC_OFFENSIVE, NULL, 0), 1);
    assert_int_equal(desc_flag_names(0, names, DESC_FLAG_COUNT), 0);
    assert_int_equal(desc_flag_names(1u << 31, names, DESC_FLAG_COUNT), 0);

    /* Not exactly one known bit. */
    assert_null(desc_flag_name(0));
    assert_null(desc_flag_name(DESC_ORIGIN_ONLY | DESC_OFFENSIVE));
    assert_null(desc_flag_name(1u << DESC_FLAG_COUNT));
    assert_null(desc_flag_message(0));
    assert_int_equal(desc_flag_from_name(NULL), 0);
    assert_int_equal(desc_flag_from_name("Origin_only"), 0);
    assert_int_equal(desc_flag_from_name(""), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_origin_only),
        cmocka_unit_test(test_offensive),
        cmocka_unit_test(test_mentions_origin),
        cmocka_unit_test(test_clean_descriptions),
        cmocka_unit_test(test_no_description),
        cmocka_unit_test(test_few_details),
        cmocka_unit_test(test_abbreviations),
        cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_errors_leave_output_alone),
        cmocka_unit_test(test_long_tokens),
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_flag_names),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
