/*
 * desc_check.h - description-quality and profiling check for outgoing posts.
 *
 * Rule of the road (docs/domain.md): "Descriptions: behaviour first, several
 * distinguishing details, no abbreviations, never only skin colour or
 * origin." WHY a check in the relay: WhatsApp buurtpreventie groups are
 * known for ethnic profiling ("donkere man (negroide) loopt door de
 * straat", the suspect who was the neighbour's friend), Burgernet drew
 * near-daily complaints about abbreviations and once sent "onverzorgd
 * oostbloktype" for a missing 16-year-old, and police and Nextdoor guidance
 * asks for several distinguishing details, never skin colour or origin
 * alone (mission_anchors.md section 3 and 9, [S17][S18][S58][S91]).
 * Police posts are checked too: the Burgernet incident came from police.
 *
 * desc_check() reads the text fields of one post and returns a set of
 * flags. It is a hint for the poster and for moderation, not a verdict: it
 * is pure (no I/O, no allocation, no global state) and deterministic, so a
 * client, the relay and a later audit all get the same answer for the same
 * text. Each flag has a stable wire name (for JSON and logs) and a short
 * Dutch message for the compose screen.
 *
 * What is checked (the lexicons and exact rules are documented in
 * desc_check.c):
 *  - origin: words for skin colour, ethnicity, nationality, origin or
 *    migration status used about a person ("donkere man", "getint",
 *    "Marokkaanse jongens", "allochtoon", "Oost-Europees uiterlijk").
 *    Nationality of a vehicle or plate ("Pools kenteken"), of a shop
 *    ("Turkse bakker") and the language someone speaks ("spreekt alleen
 *    Turks") are not origin. A colour word is origin only next to a person
 *    noun or a skin word ("zwarte jas" is clothing, "zwarte man" is not).
 *  - details: concrete, distinguishing attributes. Each counts once:
 *    clothing or accessory item (its colour included: "rood jack" is one),
 *    hair with a colour or shape, beard, glasses, tattoo, build, height
 *    ("1.80 m"), age ("78 jaar", "(78)", "man van 78"), vehicle colour,
 *    make, model, type and licence plate, the language spoken. A bare "man"
 *    or "auto" is the subject, not a detail.
 *  - a description exists when the text names a person ("man", "verdachte",
 *    "vermiste"), uses an origin word, or names a vehicle with a make,
 *    plate, colour or a suspicion word ("verdachte auto"). Closing
 *    messages ("gevonden", "aangehouden") are not held to the detail rule.
 */
#ifndef RELAY_DESC_CHECK_H
#define RELAY_DESC_CHECK_H

#include <stddef.h>

/*
 * Flags. Bit values and wire names are part of the protocol: never
 * renumber or rename, only append.
 *
 * DESC_ORIGIN_ONLY     "origin_only": origin is mentioned and fewer than
 *                      DESC_MIN_DETAILS details are given.
 * DESC_MENTIONS_ORIGIN "mentions_origin": origin is mentioned next to
 *                      enough details (soft: is it needed?). Never set
 *                      together with DESC_ORIGIN_ONLY.
 * DESC_FEW_DETAILS     "few_details": a person or vehicle is described
 *                      with fewer than DESC_MIN_DETAILS details. Not set
 *                      when DESC_ORIGIN_ONLY is (that message already asks
 *                      for details).
 * DESC_ABBREVIATION    "abbreviation": abbreviations or chat-speak ("ca.",
 *                      "pers.", "z.s.m.", "ivm", "vrw", unknown all-caps
 *                      acronyms).
 * DESC_OFFENSIVE       "offensive": a slur or dehumanising word ("neger",
 *                      "zigeuner", "oostbloktype", "tuig"), whatever else
 *                      the text says.
 *
 * There is deliberately no "no_behaviour" flag: desc_check does not know
 * whether a post is a report, and a closed verb list cannot tell
 * behaviour ("probeert deuren") from mere presence ("gezien", "staat"),
 * so it would be noise.
 */
#define DESC_ORIGIN_ONLY (1u << 0)
#define DESC_MENTIONS_ORIGIN (1u << 1)
#define DESC_FEW_DETAILS (1u << 2)
#define DESC_ABBREVIATION (1u << 3)
#define DESC_OFFENSIVE (1u << 4)
#define DESC_FLAG_COUNT 5
#define DESC_FLAGS_ALL ((1u << DESC_FLAG_COUNT) - 1)

/* Details a description needs ("several distinguishing details"). */
#define DESC_MIN_DETAILS 2

/* Longest field checked, in bytes: the protocol's default max-frame, so
 * any post the relay accepts fits and the work per post stays bounded. */
#define DESC_TEXT_MAX 16384

/*
 * Checks one post. Each field is NUL-terminated UTF-8 and may be NULL (a
 * report has no title, instruction is optional). The fields are read as
 * one text: an origin word in the title and details in the body count
 * together. Invalid UTF-8 separates words like a space and invisible
 * format characters (soft hyphen, zero-width space) are ignored; neither is
 * an error.
 *
 * Returns RELAY_OK and sets *flags_out to a DESC_* set (0: nothing to
 * say). RELAY_EINVAL when flags_out is NULL; RELAY_ETOOBIG when a field is
 * longer than DESC_TEXT_MAX bytes. *flags_out is written only on success.
 */
int desc_check(const char *title, const char *body, const char *instruction,
               unsigned *flags_out);

/* Wire name of one flag ("origin_only"); NULL unless 'bit' is exactly one
 * known DESC_* bit. */
const char *desc_flag_name(unsigned bit);

/* Dutch message for the poster for one flag; NULL as for desc_flag_name. */
const char *desc_flag_message(unsigned bit);

/* The DESC_* bit with this wire name, or 0 for NULL or an unknown name. */
unsigned desc_flag_from_name(const char *name);

/*
 * Lists the wire names of the known flags set in 'flags', lowest bit first,
 * into names[0..cap) (static strings). Returns how many flags are set, which
 * may exceed cap: only the first cap are written. names may be NULL when
 * cap is 0. desc_flag_names(DESC_FLAGS_ALL, ...) lists every flag.
 */
size_t desc_flag_names(unsigned flags, const char **names, size_t cap);

#endif
