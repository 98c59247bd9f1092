/*
 * desc_check.c - description-quality and profiling check (see desc_check.h
 * for the rule it carries and the flags).
 *
 * How it works: each field is cut into tokens by a hand-written UTF-8
 * scanner (no regex library). A token is a run of letters and digits,
 * joined across '.', '-', an apostrophe, and ',' between digits, so
 * "z.s.m", "Noord-Afrikaans", "auto's", "1,80" and "XX-123-Y" are one token
 * each. The text is lowercased and Latin-1 accents are folded to ASCII
 * ("negroïde" -> "negroide", "Citroën" -> "citroen"), so the lexicons below
 * are plain ASCII and match whole words only. Each token is looked at with
 * two tokens of left context and one of right context (a four-slot window
 * on the stack), which is all the rules need. Tokens never span fields.
 *
 * The lexicons are lists of complete word forms, inflections spelled out
 * ("donker", "donkere"), so what matches is exactly what is written here.
 * They are a reasonable start, not a complete dictionary: add words, keep
 * the tests in tests/relay/test_desc_check.c in step.
 */
#include "desc_check.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "error.h"

#define TOKEN_MAX 47      /* longer tokens are never looked up */
#define BAD_CP 0xFFFDu    /* what invalid UTF-8 decodes to */
#define NO_CHAR ((char)0) /* "no punctuation here" */

/*
 * Word classes. A word may be in several lists; its classes are OR-ed.
 */
#define L_PERSON (UINT64_C(1) << 0)       /* person noun: the subject */
#define L_VEHICLE (UINT64_C(1) << 1)      /* generic vehicle: no detail */
#define L_VTYPE (UINT64_C(1) << 2)        /* specific vehicle type: detail */
#define L_MAKE (UINT64_C(1) << 3)         /* vehicle make or model: detail */
#define L_PLATE (UINT64_C(1) << 4)        /* "kenteken": no detail alone */
#define L_ITEM (UINT64_C(1) << 5)         /* clothing, accessory: detail */
#define L_NEEDS_ADJ (UINT64_C(1) << 6)    /* "haar", "ogen": need a colour */
#define L_HAIR_ADJ (UINT64_C(1) << 7)     /* "kort": makes "haar" a detail */
#define L_FEATURE (UINT64_C(1) << 8)      /* beard, tattoo: detail */
#define L_FEATURE_ADJ (UINT64_C(1) << 9)  /* "blond", "fors": detail */
#define L_SIZE (UINT64_C(1) << 10)        /* "lange" before a person noun */
#define L_ORIGIN (UINT64_C(1) << 11)      /* always an origin word */
#define L_NATION (UINT64_C(1) << 12)      /* nationality adjective */
#define L_SKIN (UINT64_C(1) << 13)        /* colour that can mean skin */
#define L_SKIN_CTX (UINT64_C(1) << 14)    /* "huid": makes it mean skin */
#define L_LOOKS (UINT64_C(1) << 15)       /* "zuidelijk" before "type" */
#define L_TYPE_CTX (UINT64_C(1) << 16)    /* "type", "uiterlijk" */
#define L_EUROPE (UINT64_C(1) << 17)      /* "europees" after "oost" */
#define L_COMPASS (UINT64_C(1) << 18)     /* "oost", "zuid" */
#define L_TINT (UINT64_C(1) << 19)        /* "getint": skin unless glass */
#define L_GLASS (UINT64_C(1) << 20)       /* "ramen": tinted glass */
#define L_OFFENSIVE (UINT64_C(1) << 21)   /* slur */
#define L_SUSPECT (UINT64_C(1) << 22)     /* "verdacht": makes a subject */
#define L_RESOLVED (UINT64_C(1) << 23)    /* "gevonden": closing message */
#define L_COMMON (UINT64_C(1) << 24)      /* ordinary short word */
#define L_ABBR (UINT64_C(1) << 25)        /* abbreviation, dot or not */
#define L_ABBR_DOT (UINT64_C(1) << 26)    /* abbreviation when dotted */
#define L_OK_CAPS (UINT64_C(1) << 27)     /* acronym everyone knows */
#define L_UNIT_M (UINT64_C(1) << 28)      /* "m", "meter", "lang" */
#define L_UNIT_CM (UINT64_C(1) << 29)     /* "cm" */
#define L_AGE_UNIT (UINT64_C(1) << 30)    /* "jaar" */
#define L_AGE_PRE (UINT64_C(1) << 31)     /* "ongeveer", "begin" */
#define L_TIME_PRE (UINT64_C(1) << 32)    /* "om", "tot": a time follows */
#define L_TIME_UNIT (UINT64_C(1) << 33)   /* "uur", "minuten", "euro" */
#define L_EXEMPT (UINT64_C(1) << 34)      /* "winkel": a shop, not a person */
#define L_NAME_PART (UINT64_C(1) << 35)   /* "de", "van" in names */
#define L_SPEAK (UINT64_C(1) << 36)       /* "spreekt" */
#define L_SPEECH_FILL (UINT64_C(1) << 37) /* "alleen", "en" in a language */

/* Nouns that take in the colour or adjective just before them: "rood
 * jack" is one detail, not two. */
#define ABSORBS (L_ITEM | L_VTYPE | L_NEEDS_ADJ | L_FEATURE)
#define IS_VEHICLE (L_VEHICLE | L_VTYPE)

/*
 * Person nouns. Deliberately missing: "kinderen", "mensen", "bewoners":
 * "let op, veel kinderen op straat" describes nobody.
 */
static const char *const person_words[] = {
    "man", "mannen", "vrouw", "vrouwen", "jongen", "jongens", "meisje",
    "meisjes", "meid", "meiden", "jongeman", "jongemannen", "jongere",
    "jongeren", "dame", "dames", "heer", "heren", "meneer", "mevrouw",
    "persoon", "personen", "pers", "iemand", "kind", "tiener", "tieners",
    "puber", "pubers", "knul", "knullen", "kerel", "kerels", "figuur",
    "figuren", "verdachte", "verdachten", "dader", "daders", "dief", "dieven",
    "inbreker", "inbrekers", "oplichter", "oplichters", "opa", "oma",
    "bejaarde", "oudere", "vermist", "vermiste", "vermissing", "vrw", "joch",
    "jochie", "baby", "peuter", "kleuter",
    /* English */
    "men", "woman", "women", "guy", "guys", "boy", "boys", "girl", "girls",
    "person", "male", "female", "suspect", "suspects", "someone", "somebody",
    "teen", "teens", "teenager", "teenagers", "youth", "youths", "lady",
    "child", "missing"};

/* Vehicles that say nothing by themselves ("bij auto"). */
static const char *const vehicle_words[] = {
    "auto", "wagen", "voertuig", "personenauto", "fiets",
    "bus",  "car",   "vehicle",  "bike",         "bicycle"};

/* Vehicle types specific enough to count as a detail. */
static const char *const vtype_words[] = {
    "bestelbus",    "bestelauto",   "bestelwagen", "busje",     "bakfiets",
    "fatbike",      "scooter",      "scootmobiel", "brommer",   "snorfiets",
    "motor",        "motorfiets",   "e-bike",      "ebike",     "racefiets",
    "mountainbike", "stationwagen", "stationcar",  "hatchback", "sedan",
    "cabrio",       "suv",          "pick-up",     "pickup",    "camper",
    "vrachtwagen",  "vrachtauto",   "aanhanger",   "caravan",   "quad",
    "taxi",         "truck",        "motorbike",   "moped"};

/* Makes and common models (cars, vans, scooters, bicycles). */
static const char *const make_words[] = {
    "opel",    "volkswagen", "vw",         "bmw",     "mercedes",
    "audi",    "ford",       "renault",    "peugeot", "citroen",
    "toyota",  "nissan",     "kia",        "hyundai", "skoda",
    "seat",    "fiat",       "volvo",      "mazda",   "honda",
    "suzuki",  "tesla",      "mitsubishi", "dacia",   "porsche",
    "jeep",    "lexus",      "chevrolet",  "saab",    "daf",
    "iveco",   "landrover",  "alfa",       "jaguar",  "polestar",
    "byd",     "cupra",      "subaru",     "piaggio", "vespa",
    "yamaha",  "kawasaki",   "ducati",     "harley",  "gazelle",
    "batavus", "sparta",     "vanmoof",    "astra",   "corsa",
    "vivaro",  "golf",       "polo",       "passat",  "transporter",
    "caddy",   "clio",       "megane",     "kangoo",  "twingo",
    "yaris",   "aygo",       "corolla",    "prius",   "fiesta",
    "transit", "sprinter",   "vito",       "octavia", "fabia",
    "picanto", "qashqai"};

static const char *const plate_words[] = {
    "kenteken",   "kentekenplaat", "kentekenplaten", "kentekens",
    "nummerbord", "nummerborden",  "nummerplaat",    "nummerplaten",
    "plaat",      "platen",        "plate",          "plates"};

/*
 * Clothing and things a person carries or uses. Compounds ending in one of
 * item_suffixes[] ("winterjas", "joggingbroek") are items too.
 */
static const char *const item_words[] = {
    "jas", "jack", "jasje", "trui", "vest", "hoodie", "capuchon", "sweater",
    "shirt", "t-shirt", "overhemd", "blouse", "broek", "jeans", "rok", "jurk",
    "trainingspak", "overall", "bodywarmer", "colbert", "uniform", "hesje",
    "hes", "pet", "petje", "muts", "mutsje", "hoed", "sjaal", "das",
    "handschoenen", "schoenen", "sneakers", "gympen", "laarzen", "slippers",
    "pantoffels", "sandalen", "klompen", "pyjama", "ochtendjas", "badjas",
    "helm", "bivakmuts", "mondkapje", "hoofddoek", "kleding", "kleren",
    "outfit", "tas", "tasje", "rugzak", "rugtas", "koffer", "krat", "paraplu",
    "rollator", "wandelstok", "stok", "krukken", "rolstoel", "kinderwagen",
    "buggy", "hond", "honden", "koptelefoon", "oordopjes", "headset", "horloge",
    "ketting", "oorbel", "oorbellen", "bril", "brilletje", "zonnebril",
    "gehoorapparaat", "breekijzer", "koevoet", "schroevendraaier", "ladder",
    "zaklamp",
    /* English */
    "jacket", "coat", "trousers", "pants", "shorts", "skirt", "dress", "cap",
    "hat", "beanie", "scarf", "gloves", "shoes", "trainers", "boots", "bag",
    "backpack", "helmet", "glasses", "sunglasses", "umbrella", "dog", "walker",
    "wheelchair", "headphones"};

static const char *const item_suffixes[] = {
    "jas",    "jack",    "broek", "trui", "shirt", "schoenen",
    "schoen", "laarzen", "muts",  "jurk", "tas",   "vest"};

/* "haar" is also "her" ("haar fiets"); it is hair only after an adjective. */
static const char *const needs_adj_words[] = {"haar", "ogen", "eyes"};

static const char *const hair_adj_words[] = {
    "kort",        "korte",         "lang",     "lange",    "halflang",
    "halflange",   "steil",         "steile",   "krullend", "krullende",
    "dun",         "dunne",         "grijzend", "geverfd",  "geverfde",
    "opgeschoren", "gemillimeterd", "short",    "long",     "curly"};

static const char *const feature_words[] = {
    "baard",      "baardje",       "snor",         "snorretje",  "sik",
    "sikje",      "stoppels",      "stoppelbaard", "krullen",    "staart",
    "staartje",   "paardenstaart", "vlecht",       "vlechten",   "vlechtjes",
    "dreadlocks", "knotje",        "kapsel",       "haren",      "kuif",
    "tatoeage",   "tatoeages",     "tattoo",       "tattoos",    "piercing",
    "piercings",  "litteken",      "moedervlek",   "sproeten",   "beugel",
    "mank",       "twintiger",     "twintigers",   "dertiger",   "dertigers",
    "veertiger",  "veertigers",    "vijftiger",    "vijftigers", "zestiger",
    "zestigers",  "zeventiger",    "zeventigers",  "tachtiger",  "tachtigers",
    "negentiger", "negentigers",   "beard",        "moustache",  "mustache",
    "ponytail",   "braids",        "scar",         "hair",       "limp"};

/* Adjectives that are a detail by themselves ("tenger", "blonde vrouw")
 * but merge into a following noun ("blond haar" is one detail). */
static const char *const feature_adj_words[] = {
    "blond",        "blonde",    "kaal",       "kale",        "kalend",
    "rossig",       "rossige",   "grijsharig", "grijsharige", "donkerharig",
    "donkerharige", "roodharig", "roodharige", "blondharig",  "blondharige",
    "fors",         "forse",     "tenger",     "tengere",     "slank",
    "slanke",       "dik",       "dikke",      "gezet",       "gezette",
    "mager",        "magere",    "stevig",     "stevige",     "gespierd",
    "gespierde",    "atletisch", "atletische", "bald",        "skinny",
    "slim",         "stocky",    "muscular",   "tall"};

static const char *const size_words[] = {"lange", "grote", "kleine", "short"};

/*
 * Origin, always: ethnicity, origin, migration status and religion used as
 * a stand-in for origin, and the slurs (also in offensive_words[]).
 * Country names are left out on purpose ("kenteken uit Polen"), and so are
 * demonyms with a common second meaning ("Frans" is a first name, a "Duitse
 * herder" is a dog, English "polish").
 */
static const char *const origin_words[] = {
    "huidskleur", "huidtype", "afkomst", "origine", "etniciteit", "etnisch",
    "etnische", "allochtoon", "allochtone", "allochtonen", "autochtoon",
    "autochtone", "buitenlander", "buitenlanders", "marokkaan", "marokkanen",
    "turk", "turken", "surinamer", "surinamers", "antilliaan", "antillianen",
    "somalier", "somaliers", "syrier", "syriers", "afghaan", "afghanen",
    "irakees", "irakezen", "iranier", "iraniers", "koerd", "koerden",
    "chinezen", "aziaat", "aziaten", "afrikaan", "afrikanen", "noord-afrikaan",
    "noord-afrikanen", "noordafrikaan", "noordafrikanen", "roemeen", "roemenen",
    "bulgaar", "bulgaren", "oost-europeaan", "oost-europeanen", "oost-europees",
    "oost-europese", "oosteuropees", "oosteuropese", "zuid-europees",
    "zuid-europese", "arabier", "arabieren", "roma", "sinti",
    "woonwagenbewoner", "woonwagenbewoners", "asielzoeker", "asielzoekers",
    "vluchteling", "vluchtelingen", "statushouder", "statushouders",
    "arbeidsmigrant", "arbeidsmigranten", "migrant", "migranten", "moslim",
    "moslims", "oostblok", "oostblokker", "oostblokkers", "oostbloktype",
    "oostbloktypes", "oost-europa", "noord-afrika", "midden-oosten",
    "midden-oosters", "midden-oosterse", "mediterraan", "mediterrane",
    "negroide", "neger", "negers", "negerin", "nikker", "nikkers", "zigeuner",
    "zigeuners", "zigeunerin", "zigeunerachtig", "zigeunerachtige", "kleurling",
    "kleurlingen", "halfbloed", "mulat", "mulatten", "spleetoog", "spleetogen",
    "blank", "blanke", "blanken", "zwarten",
    /* English */
    "skin", "skinned", "ethnic", "ethnicity", "complexion", "foreigner",
    "foreigners", "immigrant", "immigrants", "asian", "arab", "arabs",
    "african", "africans", "hispanic", "latino", "latina", "latinos", "gypsy",
    "gypsies", "muslim", "middle-eastern", "eastern-european", "mixed-race"};

/*
 * Nationality and region adjectives: origin when they describe a person,
 * but not before a vehicle or plate ("Pools kenteken" is a detail), not
 * before exempt_words[] ("Turkse bakker") and not as the language someone
 * speaks ("spreekt alleen Turks", a detail for a missing person).
 */
static const char *const nation_words[] = {
    "marokkaans", "marokkaanse", "turks", "turkse", "surinaams", "surinaamse",
    "antilliaans", "antilliaanse", "somalisch", "somalische", "eritrees",
    "eritrese", "syrisch", "syrische", "afghaans", "afghaanse", "iraaks",
    "iraakse", "iraans", "iraanse", "koerdisch", "koerdische", "chinees",
    "chinese", "aziatisch", "aziatische", "afrikaans", "afrikaanse",
    "noord-afrikaans", "noord-afrikaanse", "noordafrikaans", "noordafrikaanse",
    "arabisch", "arabische", "pools", "poolse", "roemeens", "roemeense",
    "bulgaars", "bulgaarse", "litouws", "litouwse", "hongaars", "hongaarse",
    "slowaaks", "slowaakse", "tsjechisch", "tsjechische", "oekraiens",
    "oekraiense", "russisch", "russische", "albanees", "albanese", "servisch",
    "servische", "joegoslavisch", "joegoslavische", "kaapverdiaans",
    "kaapverdiaanse", "ghanees", "ghanese", "nigeriaans", "nigeriaanse",
    "pakistaans", "pakistaanse", "indiaas", "indiase", "hindoestaans",
    "hindoestaanse", "indonesisch", "indonesische", "moluks", "molukse",
    "italiaans", "italiaanse", "spaans", "spaanse", "portugees", "portugese",
    "grieks", "griekse", "belgisch", "belgische", "brits", "britse",
    "amerikaans", "amerikaanse", "zuid-amerikaans", "zuid-amerikaanse",
    "latijns-amerikaans", "latijns-amerikaanse", "caribisch", "caribische",
    "buitenlands", "buitenlandse", "nederlands", "nederlandse", "hollands",
    "hollandse", "islamitisch", "islamitische",
    /* English */
    "moroccan", "turkish", "romanian", "bulgarian", "russian", "somali",
    "syrian", "afghan", "foreign", "chinese"};

static const char *const exempt_words[] = {
    "winkel",     "supermarkt", "bakker",   "bakkerij", "slager", "slagerij",
    "restaurant", "snackbar",   "pizzeria", "toko",     "kapper", "kapsalon",
    "zaak",       "bedrijf",    "markt",    "moskee",   "kerk",   "vereniging",
    "ambassade",  "consulaat",  "vlag",     "keuken",   "les",    "school",
    "taal",       "tekst",      "krant",    "pizza",    "eten",   "bank",
    "grens",      "shop",       "store",    "flag",     "food"};

/* "zuidelijk type" is origin, "zuidelijke richting" is not. */
static const char *const looks_words[] = {"zuidelijk", "zuidelijke", "exotisch",
                                          "exotische"};
static const char *const type_ctx_words[] = {
    "type", "types",   "uiterlijk", "voorkomen",
    "look", "looking", "uitziend",  "uitziende"};
static const char *const europe_words[] = {
    "europees", "europese", "europeaan", "europeanen", "european", "europeans"};
static const char *const compass_words[] = {"oost", "zuid", "eastern",
                                            "southern"};

/* "getinte man" is origin, "getinte ramen" a vehicle detail. */
static const char *const tint_words[] = {"getint",       "getinte",
                                         "lichtgetint",  "lichtgetinte",
                                         "donkergetint", "donkergetinte"};
static const char *const glass_words[] = {
    "ramen",  "ruiten", "raam",      "ruit",    "glas",
    "glazen", "bril",   "zonnebril", "windows", "window"};

/* Colours that can mean skin: clothing colour by default, origin only
 * before a person noun or next to a skin word (see skin_means_origin). */
static const char *const skin_words[] = {
    "donker",        "donkere",        "zwart",
    "zwarte",        "bruin",          "bruine",
    "wit",           "witte",          "gekleurd",
    "gekleurde",     "donkergekleurd", "donkergekleurde",
    "donkerkleurig", "donkerkleurige", "black",
    "white",         "brown",          "dark",
    "darker"};
static const char *const skin_ctx_words[] = {
    "huid", "huidskleur", "huidtype", "skin", "skinned", "complexion"};

/* Slurs and dehumanising words: flagged whatever else the text says. */
static const char *const offensive_words[] = {
    "negroide",     "neger",          "negers",          "negerin",
    "nikker",       "nikkers",        "zigeuner",        "zigeuners",
    "zigeunerin",   "zigeunerachtig", "zigeunerachtige", "oostblokker",
    "oostblokkers", "oostbloktype",   "oostbloktypes",   "kleurling",
    "kleurlingen",  "halfbloed",      "mulat",           "mulatten",
    "spleetoog",    "spleetogen",     "gypsy",           "gypsies",
    "tuig",         "gespuis",        "uitschot",        "gajes",
    "schorem",      "tokkie",         "tokkies"};

static const char *const suspect_words[] = {
    "verdacht", "verdachte", "verdachten", "gezocht", "vreemd",   "vreemde",
    "onbekend", "onbekende", "suspicious", "suspect", "suspects", "wanted"};

static const char *const resolved_words[] = {
    "gevonden",     "teruggevonden", "terecht", "aangehouden", "opgepakt",
    "gearresteerd", "beeindigd",     "found",   "arrested"};

/*
 * Ordinary short words. WHY: the abbreviation rules below look at short
 * dotted and all-caps tokens; these are real words, so "weg. hij" (no
 * capital after a full stop) and "LET OP" are not abbreviations.
 */
static const char *const common_words[] = {
    "aan", "af", "al", "alle", "alles", "als", "bel", "belt", "ben", "bent",
    "beste", "bezig", "bij", "bijna", "boven", "bos", "brand", "buren", "buurt",
    "dag", "dak", "dan", "dank", "dat", "de", "deed", "den", "der", "deur",
    "die", "dit", "doe", "doen", "door", "dorp", "dus", "echt", "een", "eens",
    "eerst", "en", "er", "erg", "even", "fijn", "flat", "ga", "gaan", "gaat",
    "gas", "gat", "geen", "ging", "goed", "graag", "groet", "had", "hal",
    "half", "hallo", "hand", "hard", "heb", "hebt", "heel", "heeft", "hek",
    "help", "hem", "hen", "het", "hier", "hij", "hoe", "hoek", "hoor", "huis",
    "hulp", "hun", "iets", "ijs", "ik", "in", "info", "is", "ja", "jaar", "je",
    "jij", "jou", "kan", "kant", "kat", "keek", "kerk", "kijk", "kom", "komt",
    "kon", "kwam", "laat", "lag", "later", "lees", "let", "ligt", "liep",
    "links", "los", "loopt", "maar", "mag", "me", "mee", "meld", "men", "met",
    "mij", "mijn", "moet", "mond", "muur", "na", "naar", "nacht", "nee", "net",
    "niet", "niets", "nieuw", "niks", "nog", "nood", "nooit", "noord", "nu",
    "of", "om", "onder", "ons", "ook", "oost", "op", "oud", "over", "pad",
    "pand", "park", "pas", "per", "plein", "plek", "reed", "rent", "rijdt",
    "rook", "samen", "snel", "sorry", "sta", "staat", "stad", "stil", "stond",
    "stop", "storm", "te", "tegen", "test", "thuis", "tien", "tijd", "tip",
    "toch", "toe", "tot", "tuin", "twee", "u", "uit", "uur", "uw", "van",
    "vast", "veel", "veld", "ver", "via", "vier", "vijf", "vol", "voor", "waar",
    "want", "wat", "water", "we", "week", "weer", "weg", "wel", "welke", "werd",
    "west", "wie", "wij", "wijk", "wil", "zag", "zak", "zal", "zat", "ze",
    "zeer", "zei", "zeker", "zelf", "zes", "zich", "zie", "ziet", "zij", "zijn",
    "zit", "zo", "zou", "zoek", "zuid",
    /* English */
    "a", "an", "and", "are", "as", "at", "be", "by", "call", "did", "do", "for",
    "go", "gone", "has", "he", "her", "him", "his", "home", "i", "if", "it",
    "its", "left", "my", "near", "no", "not", "now", "off", "on", "or", "our",
    "out", "saw", "see", "she", "so", "that", "the", "them", "then", "there",
    "they", "this", "to", "up", "us", "was", "who", "yes", "you"};

/*
 * Abbreviations and chat-speak, matched with or without dots: "ca",
 * "ca.", "ivm". Sources: the brief's examples and Burgernet complaints
 * ("pers.", "gesign.", "vrw"), plus the usual Dutch and English ones.
 */
static const char *const abbr_words[] = {
    "ca",  "ong",  "ongev", "gesign", "nfi",  "ivm", "zsm",  "vm",
    "nm",  "jr",   "lft",   "mnl",    "vrl",  "vrw", "bijv", "bv",
    "evt", "ipv",  "mbt",   "dwz",    "aub",  "svp", "tzt",  "ovv",
    "idd", "ff",   "asap",  "pls",    "plz",  "thx", "fyi",  "approx",
    "etc", "resp", "nr",    "str",    "mevr", "dhr", "verd", "geb",
    "ws",  "wsl",  "mss",   "btw",    "gwn",  "nvt"};

/* Abbreviations only when followed by a dot: without it they are words
 * ("de pers", "tel de auto's", "sign here"). */
static const char *const abbr_dot_words[] = {"pers", "tel", "sign", "mr", "mw",
                                             "vr",   "ms",  "wk",   "kl"};

/*
 * Acronyms and short forms residents know, and vowelless words that are
 * not abbreviations ("hmm", units). Everything else in capitals is flagged.
 */
static const char *const ok_caps_words[] = {
    "nl",    "sms", "boa",  "knmi", "aed",  "rtv",  "ns",   "ggd",  "ehbo",
    "ov",    "gps", "tv",   "wc",   "cbs",  "nos",  "anwb", "rivm", "sos",
    "ok",    "id",  "eu",   "vs",   "uk",   "usa",  "bmw",  "vw",   "daf",
    "kia",   "mg",  "byd",  "kpn",  "dhl",  "gls",  "tnt",  "ups",  "azc",
    "amber", "ret", "gvb",  "htm",  "hema", "lidl", "aldi", "ikea", "spar",
    "ing",   "abn", "amro", "rabo", "bhv",  "avg",  "dna",  "rtl",  "pc",
    "cm",    "mm",  "km",   "kg",   "st",   "hm",   "hmm",  "pff",  "pst",
    "sst",   "brr", "grr",  "sh",   "shh",  "tss",  "suv",  "wifi", "ah",
    "cd"};

static const char *const unit_m_words[] = {"m",    "meter", "mtr",
                                           "lang", "groot", "tall"};
static const char *const unit_cm_words[] = {"cm", "centimeter"};
static const char *const age_unit_words[] = {
    "jaar", "jr", "jaren", "jarige", "jarig", "years", "year", "yrs", "yo"};
static const char *const age_pre_words[] = {
    "begin",    "eind",  "midden",    "ca",       "ong",    "ongev",
    "ongeveer", "circa", "plusminus", "leeftijd", "zo'n",   "ruim",
    "bijna",    "aged",  "age",       "about",    "approx", "approximately"};
static const char *const time_pre_words[] = {
    "om", "rond", "tot", "vanaf", "sinds", "omstreeks", "tussen",
    "na", "voor", "at",  "until", "from",  "half"};
static const char *const time_unit_words[] = {
    "uur",       "u",       "min",   "minuten", "minuut", "sec", "seconden",
    "dag",       "dagen",   "weken", "maanden", "euro",   "eur", "km",
    "kilometer", "procent", "hours", "minutes", "pm",     "am"};
static const char *const name_part_words[] = {
    "de", "van", "der", "den", "ter", "ten", "te", "la", "le", "von"};
static const char *const speak_words[] = {
    "spreekt", "sprak",    "spreken", "praat", "praatte",
    "praten",  "verstaat", "speaks",  "spoke", "speaking"};
static const char *const speech_fill_words[] = {
    "en",       "of",     "alleen", "geen", "goed",     "slecht", "gebrekkig",
    "gebroken", "weinig", "beetje", "een",  "vloeiend", "wat",    "ook",
    "maar",     "niet",   "only",   "and",  "or",       "no",     "some",
    "little",   "broken", "fluent", "a"};

struct lex_group {
    const char *const *words;
    size_t n;
    uint64_t cls;
};

#define GROUP(a, c)                                                            \
    {                                                                          \
        a, sizeof(a) / sizeof((a)[0]), c                                       \
    }

static const struct lex_group lexicon[] = {
    GROUP(person_words, L_PERSON),
    GROUP(vehicle_words, L_VEHICLE),
    GROUP(vtype_words, L_VTYPE),
    GROUP(make_words, L_MAKE),
    GROUP(plate_words, L_PLATE),
    GROUP(item_words, L_ITEM),
    GROUP(needs_adj_words, L_NEEDS_ADJ),
    GROUP(hair_adj_words, L_HAIR_ADJ),
    GROUP(feature_words, L_FEATURE),
    GROUP(feature_adj_words, L_FEATURE_ADJ),
    GROUP(size_words, L_SIZE),
    GROUP(origin_words, L_ORIGIN),
    GROUP(nation_words, L_NATION),
    GROUP(exempt_words, L_EXEMPT),
    GROUP(looks_words, L_LOOKS),
    GROUP(type_ctx_words, L_TYPE_CTX),
    GROUP(europe_words, L_EUROPE),
    GROUP(compass_words, L_COMPASS),
    GROUP(tint_words, L_TINT),
    GROUP(glass_words, L_GLASS),
    GROUP(skin_words, L_SKIN),
    GROUP(skin_ctx_words, L_SKIN_CTX),
    GROUP(offensive_words, L_OFFENSIVE),
    GROUP(suspect_words, L_SUSPECT),
    GROUP(resolved_words, L_RESOLVED),
    GROUP(common_words, L_COMMON),
    GROUP(abbr_words, L_ABBR),
    GROUP(abbr_dot_words, L_ABBR_DOT),
    GROUP(ok_caps_words, L_OK_CAPS),
    GROUP(unit_m_words, L_UNIT_M),
    GROUP(unit_cm_words, L_UNIT_CM),
    GROUP(age_unit_words, L_AGE_UNIT),
    GROUP(age_pre_words, L_AGE_PRE),
    GROUP(time_pre_words, L_TIME_PRE),
    GROUP(time_unit_words, L_TIME_UNIT),
    GROUP(name_part_words, L_NAME_PART),
    GROUP(speak_words, L_SPEAK),
    GROUP(speech_fill_words, L_SPEECH_FILL),
};

/*
 * Colours for clothing, hair and vehicles. A token is a colour when it is
 * one of colour_forms[], or one of colour_prefixes[] (optionally followed
 * by '-') before a colour: "donkerblauwe", "grijs-groen", "zwart-wit".
 */
static const char *const colour_forms[] = {
    "rood",      "rode",       "blauw",       "blauwe",        "groen",
    "groene",    "geel",       "gele",        "oranje",        "paars",
    "paarse",    "roze",       "grijs",       "grijze",        "wit",
    "witte",     "zwart",      "zwarte",      "bruin",         "bruine",
    "beige",     "zilver",     "zilveren",    "zilverkleurig", "zilverkleurige",
    "goud",      "gouden",     "goudkleurig", "goudkleurige",  "donker",
    "donkere",   "kleurig",    "kleurige",    "gekleurd",      "gekleurde",
    "turquoise", "turkoois",   "turkooise",   "bordeaux",      "kaki",
    "khaki",     "camouflage", "creme",       "antraciet",     "navy",
    "red",       "blue",       "green",       "yellow",        "orange",
    "purple",    "pink",       "grey",        "gray",          "white",
    "black",     "brown",      "silver",      "gold",          "dark"};

static const char *const colour_prefixes[] = {
    "donker", "licht", "fel",    "helder", "midden", "neon",   "zacht",
    "diep",   "leger", "marine", "hemels", "pastel", "dark",   "light",
    "bright", "rood",  "blauw",  "groen",  "geel",   "grijs",  "wit",
    "zwart",  "bruin", "paars",  "roze",   "oranje", "zilver", "goud"};

/* Top-level domains: "nu.nl" is a site, not an abbreviation. */
static const char *const tld_words[] = {"nl", "com", "org",  "net", "eu",
                                        "be", "de",  "info", "io"};

/* One token. Text is lowercased, accents folded, NUL-terminated. */
struct token {
    char text[TOKEN_MAX + 1];
    size_t len;        /* bytes in text */
    uint64_t cls;      /* L_* classes; 0 for numbers */
    unsigned letters;  /* letters in text (a-z, '*' for other scripts) */
    unsigned upper;    /* of those, written in upper case */
    char pre_first;    /* first non-space char in the gap before */
    char pre_last;     /* last non-space char in the gap before */
    unsigned pre_gap;  /* non-space chars in the gap before */
    char post;         /* first non-space char after the token */
    bool truncated;    /* longer than TOKEN_MAX: never matched */
    bool has_digit;    /* a digit anywhere: numbers, plates */
    bool has_dot;      /* inner '.' ("z.s.m", "1.80") */
    bool has_hyphen;   /* inner '-' */
    bool dot_after;    /* one '.' right after (not "...") */
    bool first_upper;  /* first character an upper-case letter */
    bool first_lower;  /* first character a lower-case letter */
    bool first_digit;  /* first character a digit */
    bool colour;       /* a colour (colour_forms[] with prefixes) */
    bool letters_only; /* nothing but letters */
};

/* What the scan has found so far, over all fields of the post. */
struct state {
    unsigned details;    /* distinguishing details counted */
    bool origin;         /* an origin word about a person */
    bool offensive;      /* a slur */
    bool abbreviation;   /* an abbreviation */
    bool person;         /* a person noun */
    bool vehicle;        /* a vehicle noun */
    bool vehicle_attr;   /* a vehicle with make, plate or colour */
    bool suspect;        /* a suspicion word */
    bool resolved;       /* a closing word */
    bool speech;         /* inside "spreekt ... Turks en Arabisch" */
    bool speech_counted; /* the language detail was counted */
    bool shouting;       /* current field has no lower-case letter */
};

static const struct {
    unsigned bit;
    const char *name;
    const char *message;
} flag_table[DESC_FLAG_COUNT] = {
    {DESC_ORIGIN_ONLY, "origin_only",
     "Beschrijving noemt alleen huidskleur of afkomst; voeg gedrag en "
     "kenmerken toe (kleding, lengte, voertuig)."},
    {DESC_MENTIONS_ORIGIN, "mentions_origin",
     "Beschrijving noemt huidskleur of afkomst; laat dat weg als gedrag en "
     "kenmerken genoeg zeggen."},
    {DESC_FEW_DETAILS, "few_details",
     "Beschrijving heeft te weinig kenmerken; noem er minstens twee "
     "(kleding en kleur, lengte, leeftijd, haar, merk, kleur of kenteken)."},
    {DESC_ABBREVIATION, "abbreviation",
     "Bericht bevat afkortingen; schrijf woorden voluit zodat iedereen het "
     "begrijpt."},
    {DESC_OFFENSIVE, "offensive",
     "Bericht bevat een kwetsend woord; beschrijf de persoon neutraal."},
};

/* ---- UTF-8 and characters ------------------------------------------- */

/*
 * Decodes one code point at s[*pos] and advances *pos. Invalid, overlong
 * or truncated sequences and surrogates decode to BAD_CP and advance one
 * byte, so every byte is visited at most once and the scan always ends.
 */
static uint32_t utf8_next(const unsigned char *s, size_t len, size_t *pos)
{
    unsigned char c = s[*pos];
    uint32_t cp;
    size_t n;

    if (c < 0x80) {
        (*pos)++;
        return c;
    }
    if (c >= 0xC2 && c <= 0xDF) {
        n = 1;
        cp = c & 0x1Fu;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 2;
        cp = c & 0x0Fu;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 3;
        cp = c & 0x07u;
    } else {
        (*pos)++;
        return BAD_CP;
    }
    if (len - *pos <= n) {
        (*pos)++;
        return BAD_CP;
    }
    for (size_t i = 1; i <= n; i++) {
        unsigned char b = s[*pos + i];

        if ((b & 0xC0) != 0x80) {
            (*pos)++;
            return BAD_CP;
        }
        cp = (cp << 6) | (b & 0x3Fu);
    }
    if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF)) {
        (*pos)++;
        return BAD_CP;
    }
    *pos += n + 1;
    return cp;
}

static bool is_digit_cp(uint32_t cp)
{
    return cp >= '0' && cp <= '9';
}

/* Spaces, and invalid UTF-8: a broken byte separates words like a space
 * so that it cannot hide "donkere\xffman" from the adjacency rules. */
static bool is_space_cp(uint32_t cp)
{
    return cp == ' ' || (cp >= '\t' && cp <= '\r') || cp == 0xA0 ||
           cp == 0x2007 || cp == 0x202F || cp == BAD_CP;
}

/* Invisible format characters (soft hyphen, zero-width space and joiners,
 * word joiner, BOM) are skipped as if absent. WHY: otherwise
 * "don<U+00AD>kere" would slip past the lexicon while looking the same. */
static bool is_ignorable_cp(uint32_t cp)
{
    return cp == 0xAD || (cp >= 0x200B && cp <= 0x200D) || cp == 0x2060 ||
           cp == 0xFEFF;
}

/* Letters of Latin-1 and Latin Extended-A/B, combining marks (decomposed
 * "ï"), ASCII letters and digits. Everything else separates words. */
static bool is_word_cp(uint32_t cp)
{
    if (cp < 0x80)
        return is_digit_cp(cp) || (cp >= 'a' && cp <= 'z') ||
               (cp >= 'A' && cp <= 'Z');
    if (cp >= 0xC0 && cp <= 0x24F)
        return cp != 0xD7 && cp != 0xF7;
    return cp >= 0x300 && cp <= 0x36F;
}

static bool is_upper_cp(uint32_t cp)
{
    return (cp >= 'A' && cp <= 'Z') || (cp >= 0xC0 && cp <= 0xDE && cp != 0xD7);
}

static bool is_lower_cp(uint32_t cp)
{
    return (cp >= 'a' && cp <= 'z') || (cp >= 0xDF && cp <= 0xFF && cp != 0xF7);
}

/* Characters that may join two word characters into one token. */
static bool is_joiner_cp(uint32_t cp)
{
    return cp == '.' || cp == ',' || cp == '-' || cp == '\'' || cp == 0x2019 ||
           cp == 0x2010 || cp == 0x2011;
}

static void token_put(struct token *t, char c)
{
    if (t->len >= TOKEN_MAX) {
        t->truncated = true;
        return;
    }
    t->text[t->len++] = c;
    t->text[t->len] = '\0';
}

/*
 * Appends one word character, lowercased and folded to ASCII: Latin-1
 * letters lose their accents ("é" -> 'e', "ß" -> "ss"), other Latin
 * letters become '*' (they match nothing but still count as letters) and
 * combining marks vanish.
 */
static void token_put_cp(struct token *t, uint32_t cp)
{
    /* 0xC0..0xDF and 0xE0..0xFF fold alike; '?' entries are special. */
    static const char fold[] = "aaaaaa?ceeeeiiiidnooooo?ouuuuyt?";

    if (cp >= 0x300 && cp <= 0x36F)
        return;
    if (is_digit_cp(cp)) {
        t->has_digit = true;
        token_put(t, (char)cp);
        return;
    }
    t->letters++;
    if (is_upper_cp(cp))
        t->upper++;
    if (cp < 0x80) {
        token_put(t, (char)(cp | 0x20));
    } else if (cp == 0xC6 || cp == 0xE6) {
        token_put(t, 'a');
        token_put(t, 'e');
    } else if (cp == 0xDF) {
        token_put(t, 's');
        token_put(t, 's');
    } else if (cp == 0xFF) {
        token_put(t, 'y');
    } else if (cp >= 0xC0 && cp <= 0xFF && fold[(cp - 0xC0) & 0x1F] != '?') {
        token_put(t, fold[(cp - 0xC0) & 0x1F]);
    } else {
        token_put(t, '*');
    }
}

/* ---- lexicon --------------------------------------------------------- */

static bool in_list(const char *const *words, size_t n, const char *w)
{
    for (size_t i = 0; i < n; i++)
        if (words[i][0] == w[0] && strcmp(words[i], w) == 0)
            return true;
    return false;
}

#define IN_LIST(a, w) in_list(a, sizeof(a) / sizeof((a)[0]), w)

static uint64_t lex_lookup(const char *w)
{
    uint64_t cls = 0;

    for (size_t i = 0; i < sizeof(lexicon) / sizeof(lexicon[0]); i++)
        if (in_list(lexicon[i].words, lexicon[i].n, w))
            cls |= lexicon[i].cls;
    return cls;
}

static bool ends_with(const char *w, size_t len, const char *suffix)
{
    size_t n = strlen(suffix);

    return len > n && memcmp(w + len - n, suffix, n) == 0;
}

/* True for a colour, with up to 'depth' prefixes ("donker", "grijs-"). */
static bool is_colour_at(const char *w, int depth)
{
    if (IN_LIST(colour_forms, w))
        return true;
    if (depth == 0)
        return false;
    for (size_t i = 0; i < sizeof(colour_prefixes) / sizeof(*colour_prefixes);
         i++) {
        size_t n = strlen(colour_prefixes[i]);

        if (strncmp(w, colour_prefixes[i], n) != 0 || w[n] == '\0')
            continue;
        if (w[n] == '-')
            n++;
        if (w[n] != '\0' && is_colour_at(w + n, depth - 1))
            return true;
    }
    return false;
}

/*
 * Classifies a word token. Hyphenated compounds not in the lexicon take
 * the classes of their last part plus any origin or slur in any part
 * ("Marokkaans-Nederlandse", "dark-skinned"); a "kut" prefix on an origin
 * word is a slur ("kutmarokkanen"); a compound ending in a clothing word is
 * clothing ("winterjas").
 */
static uint64_t classify(const char *w, size_t len)
{
    uint64_t cls = lex_lookup(w);

    if (cls == 0 && strchr(w, '-')) {
        char part[TOKEN_MAX + 1];
        const char *p = w;

        for (;;) {
            const char *dash = strchr(p, '-');
            size_t n = dash ? (size_t)(dash - p) : strlen(p);
            uint64_t pc;

            memcpy(part, p, n);
            part[n] = '\0';
            pc = lex_lookup(part);
            cls |= pc & (L_ORIGIN | L_NATION | L_OFFENSIVE | L_SKIN_CTX);
            if (!dash) {
                cls |= pc;
                break;
            }
            p = dash + 1;
        }
    }
    if (cls == 0 && len > 3 && strncmp(w, "kut", 3) == 0 &&
        (lex_lookup(w + 3) & (L_ORIGIN | L_NATION)))
        cls = L_ORIGIN | L_OFFENSIVE;
    if (!(cls & L_ITEM)) {
        for (size_t i = 0; i < sizeof(item_suffixes) / sizeof(*item_suffixes);
             i++) {
            if (ends_with(w, len, item_suffixes[i])) {
                cls |= L_ITEM;
                break;
            }
        }
    }
    return cls;
}

/* ---- scanner --------------------------------------------------------- */

struct scanner {
    const unsigned char *s;
    size_t len;
    size_t pos;
};

/* ASCII punctuation as itself, anything else as '?'. */
static char punct_char(uint32_t cp)
{
    return cp < 0x80 ? (char)cp : '?';
}

/*
 * Reads the next token into *t; false at the end of the field. Records the
 * punctuation in the gap before it (for "(78)", "man, zwart") and the first
 * non-space character after it.
 */
static bool scan_token(struct scanner *sc, struct token *t)
{
    uint32_t cp = 0;
    uint32_t last = 0;
    size_t p;

    memset(t, 0, sizeof(*t));
    while (sc->pos < sc->len) {
        p = sc->pos;
        cp = utf8_next(sc->s, sc->len, &p);
        if (is_word_cp(cp))
            break;
        sc->pos = p;
        if (!is_space_cp(cp) && !is_ignorable_cp(cp)) {
            if (t->pre_gap == 0)
                t->pre_first = punct_char(cp);
            t->pre_last = punct_char(cp);
            t->pre_gap++;
        }
    }
    if (sc->pos >= sc->len)
        return false;

    t->first_upper = is_upper_cp(cp);
    t->first_lower = is_lower_cp(cp);
    t->first_digit = is_digit_cp(cp);
    while (sc->pos < sc->len) {
        size_t q;
        uint32_t nx;

        p = sc->pos;
        cp = utf8_next(sc->s, sc->len, &p);
        if (is_word_cp(cp)) {
            token_put_cp(t, cp);
            last = cp;
            sc->pos = p;
            continue;
        }
        if (is_ignorable_cp(cp)) {
            sc->pos = p;
            continue;
        }
        if (!is_joiner_cp(cp) || p >= sc->len)
            break;
        q = p;
        nx = utf8_next(sc->s, sc->len, &q);
        if (!is_word_cp(nx))
            break;
        if (cp == ',' && !(is_digit_cp(last) && is_digit_cp(nx)))
            break;
        if (cp == '.') {
            t->has_dot = true;
            token_put(t, '.');
        } else if (cp == ',') {
            token_put(t, ',');
        } else if (cp == '\'' || cp == 0x2019) {
            token_put(t, '\'');
        } else {
            t->has_hyphen = true;
            token_put(t, '-');
        }
        sc->pos = p;
    }

    t->dot_after = sc->pos < sc->len && sc->s[sc->pos] == '.' &&
                   !(sc->pos + 1 < sc->len && sc->s[sc->pos + 1] == '.');
    t->post = NO_CHAR;
    for (p = sc->pos; p < sc->len;) {
        cp = utf8_next(sc->s, sc->len, &p);
        if (!is_space_cp(cp) && !is_ignorable_cp(cp)) {
            t->post = punct_char(cp);
            break;
        }
    }

    t->letters_only = t->len > 0 && t->letters == t->len && !t->truncated;
    if (!t->truncated && !t->has_digit && t->len > 0) {
        t->cls = classify(t->text, t->len);
        t->colour = is_colour_at(t->text, 3);
    }
    return true;
}

/* ---- details ------------------------------------------------------- */

/*
 * Dutch licence plate: three groups joined by '-', 1-3 characters each, 6
 * in all, each group all letters or all digits, letters and digits both
 * present ("XX-123-Y", "12-ABC-3"). Every Dutch sidecode has this shape.
 */
static bool is_plate(const char *w)
{
    unsigned groups = 0, total = 0, run = 0;
    bool letters = false, digits = false, g_alpha = false, g_digit = false;

    for (const char *p = w;; p++) {
        if (*p == '-' || *p == '\0') {
            if (run == 0 || run > 3 || (g_alpha && g_digit))
                return false;
            groups++;
            total += run;
            run = 0;
            g_alpha = g_digit = false;
            if (*p == '\0')
                break;
        } else if (*p >= '0' && *p <= '9') {
            digits = g_digit = true;
            run++;
        } else if (*p >= 'a' && *p <= 'z') {
            letters = g_alpha = true;
            run++;
        } else {
            return false;
        }
    }
    return groups == 3 && total == 6 && letters && digits;
}

struct number {
    unsigned long ip;   /* integer part (capped) */
    unsigned frac;      /* first two fraction digits */
    unsigned fdigits;   /* fraction digits written */
    bool sep;           /* has a decimal '.' or ',' */
    const char *suffix; /* letters after the number: "m", "jarige" */
};

/* Parses "180", "1.80", "1,80", "1.80m", "78-jarige"; false for anything
 * else ("12-03-2024", "a28"). */
static bool parse_number(const char *w, struct number *n)
{
    const char *p = w;

    memset(n, 0, sizeof(*n));
    if (!(*p >= '0' && *p <= '9'))
        return false;
    for (; *p >= '0' && *p <= '9'; p++)
        if (n->ip < 100000)
            n->ip = n->ip * 10 + (unsigned long)(*p - '0');
    if ((*p == '.' || *p == ',') && p[1] >= '0' && p[1] <= '9') {
        n->sep = true;
        for (p++; *p >= '0' && *p <= '9'; p++) {
            if (n->fdigits < 2)
                n->frac = n->frac * 10 + (unsigned)(*p - '0');
            n->fdigits++;
        }
    }
    if (*p == '-')
        p++;
    n->suffix = p;
    for (; *p; p++)
        if (!(*p >= 'a' && *p <= 'z'))
            return false;
    return true;
}

/* Height in cm of a decimal like 1.80 or 1,8; 0 when not one. */
static unsigned long decimal_cm(const struct number *n)
{
    if (!n->sep || n->ip < 1 || n->ip > 2)
        return 0;
    if (n->fdigits == 1)
        return n->ip * 100 + n->frac * 10;
    if (n->fdigits == 2)
        return n->ip * 100 + n->frac;
    return 0;
}

static bool is_height_cm(unsigned long cm)
{
    return cm >= 120 && cm <= 229;
}

/*
 * A token with digits: licence plate, height ("1.80 m", "1,85", "180
 * cm", "1.80m") or age ("78 jaar", "(78)", "man van 78", "begin 30",
 * "78-jarige"). A bare number is not a detail: times ("om 2.15 uur"),
 * house numbers and "112" must not count.
 */
static void count_number(struct state *st, const struct token *prev2,
                         const struct token *prev, const struct token *cur,
                         const struct token *next)
{
    uint64_t pc = prev ? prev->cls : 0;
    uint64_t nc = next ? next->cls : 0;
    struct number n;

    if (cur->truncated)
        return;
    if (is_plate(cur->text)) {
        st->details++;
        st->vehicle_attr = true;
        return;
    }
    if (!parse_number(cur->text, &n))
        return;
    if (n.suffix[0] != '\0') {
        const char *s = n.suffix;

        if ((strcmp(s, "m") == 0 || strcmp(s, "meter") == 0) &&
            is_height_cm(decimal_cm(&n)))
            st->details++;
        else if (strcmp(s, "cm") == 0 && !n.sep && is_height_cm(n.ip))
            st->details++;
        else if (IN_LIST(age_unit_words, s) && !n.sep && n.ip >= 1 &&
                 n.ip <= 110)
            st->details++;
        return;
    }
    if (n.sep) {
        if (is_height_cm(decimal_cm(&n)) && !(nc & L_TIME_UNIT) &&
            !(pc & L_TIME_PRE))
            st->details++;
        return;
    }
    if (nc & L_UNIT_CM) {
        if (is_height_cm(n.ip))
            st->details++;
        return;
    }
    if (n.ip < 1 || n.ip > 110)
        return;
    if ((nc & L_AGE_UNIT) || (cur->pre_last == '(' && cur->post == ')')) {
        st->details++;
    } else if ((pc & L_AGE_PRE) && n.ip >= 10 && n.ip <= 99 &&
               !(nc & (L_TIME_UNIT | L_UNIT_M | L_UNIT_CM))) {
        st->details++;
    } else if (prev && strcmp(prev->text, "van") == 0 && prev2 &&
               (prev2->cls & L_PERSON) && cur->pre_gap == 0) {
        st->details++;
    }
}

/*
 * A skin-capable colour ("donkere", "zwart", "white") means skin, not
 * clothing, when the next word is a person or skin word with only spaces
 * between ("donkere man", "donkere huidskleur", "donker getint"), the
 * previous one is a skin word ("huid: donker"), or it stands alone as an
 * attribute right after a person noun ("Man, zwart, 1.80 lang").
 * "zwarte jas", "donker haar" and "Kleding: zwart. Man loopt" stay colours.
 */
static bool skin_means_origin(const struct token *prev, const struct token *cur,
                              const struct token *next)
{
    uint64_t nc = next ? next->cls : 0;
    uint64_t pc = prev ? prev->cls : 0;

    if ((nc & (L_PERSON | L_SKIN_CTX | L_TINT)) && next->pre_gap == 0)
        return true;
    if ((pc & L_SKIN_CTX) &&
        (cur->pre_gap == 0 || (cur->pre_gap == 1 && cur->pre_first == ':')))
        return true;
    return (pc & L_PERSON) && cur->pre_gap == 1 && cur->pre_first == ',' &&
           (!next || next->pre_gap > 0);
}

/* Nationality adjective: vehicle detail, shop, language or origin. */
static void count_nation(struct state *st, const struct token *next)
{
    uint64_t nc = next ? next->cls : 0;

    if (nc & (IS_VEHICLE | L_PLATE)) {
        st->details++;
        st->vehicle_attr = true;
    } else if (nc & L_EXEMPT) {
        return;
    } else if (st->speech) {
        if (!st->speech_counted)
            st->details++;
        st->speech_counted = true;
    } else {
        st->origin = true;
    }
}

/* Origin, subject and detail rules for one word token (see the header of
 * desc_check.h for what counts). */
static void count_word(struct state *st, const struct token *prev,
                       const struct token *cur, const struct token *next)
{
    uint64_t c = cur->cls;
    uint64_t pc = prev ? prev->cls : 0;
    uint64_t nc = next ? next->cls : 0;

    if (cur->truncated)
        return;
    if (c & L_PERSON)
        st->person = true;
    if (c & IS_VEHICLE)
        st->vehicle = true;
    if (c & L_SUSPECT)
        st->suspect = true;
    if (c & L_RESOLVED)
        st->resolved = true;
    if (c & L_OFFENSIVE)
        st->offensive = true;
    if (c & L_ORIGIN)
        st->origin = true;

    if (c & L_SPEAK) {
        st->speech = true;
        return;
    }
    if (!(c & (L_NATION | L_SPEECH_FILL)))
        st->speech = false;

    if (c & L_NATION)
        count_nation(st, next);
    if ((c & L_LOOKS) && (nc & L_TYPE_CTX))
        st->origin = true;
    if ((c & L_EUROPE) && (pc & L_COMPASS))
        st->origin = true;
    if (c & L_TINT) {
        if (nc & L_GLASS) {
            st->details++;
            st->vehicle_attr = true;
        } else {
            st->origin = true;
        }
        return;
    }
    if ((c & L_SKIN) && skin_means_origin(prev, cur, next)) {
        st->origin = true;
        return;
    }
    if (cur->colour) {
        if (!(nc & ABSORBS))
            st->details++;
        if (nc & IS_VEHICLE)
            st->vehicle_attr = true;
        return;
    }
    if ((c & L_FEATURE_ADJ) && !(nc & ABSORBS))
        st->details++;
    if ((c & L_SIZE) && (nc & L_PERSON))
        st->details++;
    if (c & (L_ITEM | L_VTYPE | L_FEATURE | L_MAKE))
        st->details++;
    if (c & L_MAKE)
        st->vehicle_attr = true;
    if ((c & L_NEEDS_ADJ) && prev &&
        (prev->colour || (pc & (L_HAIR_ADJ | L_FEATURE_ADJ))))
        st->details++;
}

/* ---- abbreviations ------------------------------------------------- */

/* "z.s.m", "i.v.m", "o.a": two or more dot-separated groups of one or two
 * letters, not ending in a top-level domain ("nu.nl"). */
static bool is_dotted_initials(const char *w)
{
    unsigned groups = 0, run = 0;
    const char *last = w;

    for (const char *p = w;; p++) {
        if (*p == '.' || *p == '\0') {
            if (run == 0 || run > 2)
                return false;
            groups++;
            run = 0;
            if (*p == '\0')
                break;
            last = p + 1;
        } else if (*p >= 'a' && *p <= 'z') {
            run++;
        } else {
            return false;
        }
    }
    return groups >= 2 && !IN_LIST(tld_words, last);
}

static bool has_vowel(const char *w)
{
    for (; *w; w++)
        if (strchr("aeiouy*", *w))
            return true;
    return false;
}

static bool is_roman(const char *w)
{
    for (; *w; w++)
        if (!strchr("ivxlcdm", *w))
            return false;
    return true;
}

/*
 * One letter and a dot ("m.", "v."): an abbreviation, except "m" after a
 * number (the unit: "1.80 m."), "u" unless after a number ("bedankt u."
 * is the pronoun, "14.30 u." is "uur"), and a capital that is a name
 * initial: before a capitalised word or name particle ("J. de Vries") or
 * right after a capitalised name ("Piet K.").
 */
static bool is_letter_abbr(const struct token *prev, const struct token *cur,
                           const struct token *next)
{
    bool after_number = prev && prev->has_digit && cur->pre_gap == 0;

    if (cur->text[0] == 'u')
        return after_number;
    if (cur->text[0] == 'm' && after_number)
        return false;
    if (cur->first_upper) {
        if (next && (next->first_upper || (next->cls & L_NAME_PART)))
            return false;
        if (prev && prev->first_upper && prev->letters_only && prev->len > 1 &&
            cur->pre_gap == 0)
            return false;
    }
    return true;
}

/*
 * The abbreviation rule. Never for the two letters of a postcode ("9401
 * AB"). Then, in order:
 *  1. a word in abbr_words[] ("ca", "ivm", "vrw"), dotted or not, or in
 *     abbr_dot_words[] followed by a dot ("pers.");
 *  2. dotted initials ("z.s.m.", "i.v.m.", "o.a.");
 *  3. one letter and a dot (is_letter_abbr).
 * Rules 4-6 skip "known" words (in any lexicon list, ok_caps_words[]
 * included, or a colour) and roman numerals and sizes ("XII", "XL"):
 *  4. a word of 2-6 letters without a vowel ("nr", "bl", "lft");
 *  5. 2-4 letters and a dot followed by a lower-case word or a digit
 *     ("kled. zwart", "sig. man"): a sentence never goes on in lower case
 *     after a full stop, so "weg. hij" in an all-lower-case message passes
 *     only because "weg" is known;
 *  6. 2-5 letters all in capitals ("OBA", but not "NL", "BOA", "LET OP"),
 *     except in a field with no lower-case letter at all (a shouted
 *     "VERMIST MEISJE JAN").
 */
static bool is_abbreviation(const struct state *st, const struct token *prev,
                            const struct token *cur, const struct token *next)
{
    uint64_t c = cur->cls;
    bool known;
    bool postcode;

    if (cur->truncated || cur->has_digit || cur->len == 0)
        return false;
    postcode = cur->len == 2 && prev && prev->len == 4 && prev->has_digit &&
               prev->letters == 0 && cur->pre_gap == 0;
    if (postcode)
        return false;
    if ((c & L_ABBR) || ((c & L_ABBR_DOT) && cur->dot_after))
        return true;
    if (cur->has_dot && is_dotted_initials(cur->text))
        return true;
    if (!cur->letters_only)
        return false;
    if (cur->len == 1)
        return cur->dot_after && is_letter_abbr(prev, cur, next);

    known = (c & ~(L_ABBR | L_ABBR_DOT)) != 0 || cur->colour;
    if (known || is_roman(cur->text))
        return false;
    if (cur->len <= 6 && !has_vowel(cur->text))
        return true;
    if (cur->dot_after && cur->len <= 4 && next && next->pre_gap == 1 &&
        (next->first_lower || next->first_digit))
        return true;
    return !st->shouting && cur->len <= 5 && cur->upper == cur->letters;
}

/* ---- driver -------------------------------------------------------- */

/* True when the field has an upper-case letter and no lower-case one. */
static bool field_shouts(const char *text, size_t len)
{
    const unsigned char *s = (const unsigned char *)text;
    bool upper = false;

    for (size_t p = 0; p < len;) {
        uint32_t cp = utf8_next(s, len, &p);

        if (is_lower_cp(cp))
            return false;
        if (is_upper_cp(cp))
            upper = true;
    }
    return upper;
}

/*
 * Scans one field with a window of four tokens: w[0] and w[1] before the
 * current token w[2], w[3] after it. A slot is NULL at the field's edges.
 */
static void check_field(struct state *st, const char *text, size_t len)
{
    struct scanner sc = {(const unsigned char *)text, len, 0};
    struct token slot[4];
    struct token *w[4] = {&slot[0], &slot[1], &slot[2], &slot[3]};
    bool valid[4] = {false, false, false, false};

    st->shouting = field_shouts(text, len);
    st->speech = false;
    valid[3] = scan_token(&sc, w[3]);
    for (;;) {
        struct token *spare = w[0];
        const struct token *p2, *p1, *nx;

        w[0] = w[1];
        w[1] = w[2];
        w[2] = w[3];
        w[3] = spare;
        valid[0] = valid[1];
        valid[1] = valid[2];
        valid[2] = valid[3];
        if (!valid[2])
            break;
        valid[3] = scan_token(&sc, w[3]);

        p2 = valid[0] ? w[0] : NULL;
        p1 = valid[1] ? w[1] : NULL;
        nx = valid[3] ? w[3] : NULL;
        if (w[2]->has_digit)
            count_number(st, p2, p1, w[2], nx);
        else
            count_word(st, p1, w[2], nx);
        if (is_abbreviation(st, p1, w[2], nx))
            st->abbreviation = true;
    }
}

int desc_check(const char *title, const char *body, const char *instruction,
               unsigned *flags_out)
{
    const char *fields[3] = {title, body, instruction};
    size_t lens[3];
    struct state st;
    unsigned flags = 0;
    bool description;

    if (!flags_out)
        return RELAY_EINVAL;
    for (size_t i = 0; i < 3; i++) {
        lens[i] = fields[i] ? strnlen(fields[i], DESC_TEXT_MAX + 1) : 0;
        if (lens[i] > DESC_TEXT_MAX)
            return RELAY_ETOOBIG;
    }
    memset(&st, 0, sizeof(st));
    for (size_t i = 0; i < 3; i++)
        if (fields[i])
            check_field(&st, fields[i], lens[i]);

    description =
        st.person || st.origin || st.vehicle_attr || (st.vehicle && st.suspect);
    if (st.origin)
        flags |= st.details < DESC_MIN_DETAILS ? DESC_ORIGIN_ONLY
                                               : DESC_MENTIONS_ORIGIN;
    else if (description && !st.resolved && st.details < DESC_MIN_DETAILS)
        flags |= DESC_FEW_DETAILS;
    if (st.abbreviation)
        flags |= DESC_ABBREVIATION;
    if (st.offensive)
        flags |= DESC_OFFENSIVE;
    *flags_out = flags;
    return RELAY_OK;
}

const char *desc_flag_name(unsigned bit)
{
    for (size_t i = 0; i < DESC_FLAG_COUNT; i++)
        if (flag_table[i].bit == bit)
            return flag_table[i].name;
    return NULL;
}

const char *desc_flag_message(unsigned bit)
{
    for (size_t i = 0; i < DESC_FLAG_COUNT; i++)
        if (flag_table[i].bit == bit)
            return flag_table[i].message;
    return NULL;
}

unsigned desc_flag_from_name(const char *name)
{
    if (!name)
        return 0;
    for (size_t i = 0; i < DESC_FLAG_COUNT; i++)
        if (strcmp(flag_table[i].name, name) == 0)
            return flag_table[i].bit;
    return 0;
}

size_t desc_flag_names(unsigned flags, const char **names, size_t cap)
{
    size_t count = 0;

    for (size_t i = 0; i < DESC_FLAG_COUNT; i++) {
        if (!(flags & flag_table[i].bit))
            continue;
        if (names && count < cap)
            names[count] = flag_table[i].name;
        count++;
    }
    return count;
}
