//! Demo data: realistic, deterministic synthetic users for `userdeck demo`
//! and `serve --demo`.
//!
//! User number `index` of seed `seed` is a pure function of `(seed, index,
//! now)`: it draws from its own small PRNG (splitmix64) seeded from the seed
//! and the index, so any chunk can be generated independently, in any order,
//! on any thread, and the same inputs give the same user on every platform
//! and with every version of the dependencies (no `rand`, and no
//! transcendental floating-point functions, whose last bit may differ
//! between math libraries). Every time is relative to `now`, so the data
//! always looks recent.
//!
//! Identifiers never repeat within a seed: `user_id` is the index, the
//! jimer id embeds a permutation of the index, and emails are unique by
//! construction because (language, first name, last name, company) comes
//! from a permutation of the index too and every address pattern keeps
//! enough of it (see [`person`]).

use crate::model::attribute::AttrValue;
use crate::server::store::bulk::{NewAttribute, NewUser};
use crate::server::store::{Store, StoreError};
use chrono::{DateTime, Utc};

/// Users per `insert_users` call.
const CHUNK: u64 = 2_000;
/// Share of anonymous visitors (no user id, name or email).
const ANONYMOUS_SHARE: f64 = 0.08;

// Times are computed in whole seconds, then given out in milliseconds.
const MINUTE: i64 = 60;
const HOUR: i64 = 3_600;
const DAY: i64 = 86_400;
/// How far back signups go.
const HISTORY: i64 = 730 * DAY;

/// The profile of demo user number `index` for `seed`: the same inputs give
/// the same user, always.
pub fn demo_user(seed: u64, index: u64, now_ms: i64) -> NewUser {
    let mut rng = Rng::new(seed, index);
    let now = now_ms.div_euclid(1000);
    let jimer_id = jimer_id(seed, index, &mut rng);
    if rng.chance(ANONYMOUS_SHARE) {
        anonymous(&mut rng, jimer_id, now)
    } else {
        identified(&mut rng, jimer_id, seed, index, now)
    }
}

/// Inserts `users` demo users (indices `0..users`) in chunks of 2,000
/// through `store.insert_users`, showing a progress bar on stderr (users/s
/// and ETA) when `progress` is true. The next chunk is generated on a
/// blocking thread while the current one is written.
pub async fn fill(
    store: &Store,
    workspace: i64,
    users: u64,
    seed: u64,
    progress: bool,
) -> Result<(), StoreError> {
    use indicatif::{ProgressBar, ProgressStyle};

    let now_ms = Utc::now().timestamp_millis();
    let bar = if progress {
        let bar = ProgressBar::new(users);
        if let Ok(style) = ProgressStyle::with_template(
            "{spinner} demo users [{elapsed_precise}] {wide_bar} {human_pos}/{human_len} ({per_sec}, ETA {eta})",
        ) {
            bar.set_style(style);
        }
        bar.enable_steady_tick(std::time::Duration::from_millis(200));
        bar
    } else {
        ProgressBar::hidden()
    };
    let generate = move |start: u64| {
        tokio::task::spawn_blocking(move || {
            let end = start.saturating_add(CHUNK).min(users);
            (start..end)
                .map(|i| demo_user(seed, i, now_ms))
                .collect::<Vec<NewUser>>()
        })
    };
    let mut pending = (users > 0).then(|| generate(0));
    let mut done = 0u64;
    while let Some(handle) = pending.take() {
        let chunk = match handle.await {
            Ok(chunk) => chunk,
            // Generation is pure code: only a bug can get here.
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => panic!("demo data generation was cancelled: {e}"),
        };
        done += chunk.len() as u64;
        if done < users {
            pending = Some(generate(done));
        }
        if let Err(e) = store.insert_users(workspace, &chunk).await {
            bar.abandon();
            return Err(e);
        }
        bar.inc(chunk.len() as u64);
    }
    bar.finish();
    Ok(())
}

// ---------------------------------------------------------------------------
// Randomness

/// splitmix64: tiny, fast, and its stream is fixed forever.
struct Rng(u64);

const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Rng {
    fn new(seed: u64, index: u64) -> Rng {
        Rng(mix(mix(seed ^ 0x5EED_DE30) ^ index.wrapping_mul(GOLDEN)))
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(GOLDEN);
        mix(self.0)
    }

    /// Uniform in [0, 1).
    fn f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in `0..n` (`n > 0`).
    fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }

    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        if hi <= lo {
            lo
        } else {
            lo + self.below((hi - lo) as u64 + 1) as i64
        }
    }

    fn chance(&mut self, p: f64) -> bool {
        self.f64() < p
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }

    /// One of `(item, weight)` pairs, in proportion to the weights.
    fn weighted<T: Copy>(&mut self, items: &[(T, u32)]) -> T {
        let total: u64 = items.iter().map(|(_, w)| *w as u64).sum();
        let mut r = self.below(total);
        for (item, w) in items {
            if r < *w as u64 {
                return *item;
            }
            r -= *w as u64;
        }
        items[items.len() - 1].0
    }

    /// A time in `lo..=hi` (seconds), most of them close to `hi`.
    fn recent_between(&mut self, lo: i64, hi: i64) -> i64 {
        if hi <= lo {
            return lo;
        }
        let u = self.f64();
        hi - ((hi - lo) as f64 * u * u * u) as i64
    }
}

/// A keyed permutation of `0..n` (`n >= 2`): a 4-round Feistel network on
/// the smallest even number of bits that holds `n`, cycle-walking back into
/// range (fewer than 4 steps on average).
fn permute(x: u64, n: u64, key: u64) -> u64 {
    let bits = 64 - (n - 1).leading_zeros();
    let half = bits.div_ceil(2);
    let mask = (1u64 << half) - 1;
    let mut x = x;
    loop {
        let (mut l, mut r) = (x >> half, x & mask);
        for round in 1..=4u64 {
            let f = mix(r ^ key.wrapping_add(round.wrapping_mul(GOLDEN))) & mask;
            (l, r) = (r, l ^ f);
        }
        x = (l << half) | r;
        if x < n {
            return x;
        }
    }
}

// ---------------------------------------------------------------------------
// Identifiers

const BASE36: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
/// Where the scrambled index goes among the 20 characters of a jimer id.
const INDEX_DIGITS: [usize; 8] = [1, 4, 6, 9, 11, 14, 17, 19];

/// `j_` and 20 characters of `[a-z0-9]`: 12 random, 8 holding a bijective
/// scramble of the index, so two indices below 2^41 never share an id.
fn jimer_id(seed: u64, index: u64, rng: &mut Rng) -> String {
    let mut body = [0u8; 20];
    let mut r = rng.next_u64();
    for (i, b) in body.iter_mut().enumerate() {
        if i == 10 {
            r = rng.next_u64();
        }
        *b = BASE36[(r % 36) as usize];
        r /= 36;
    }
    let mut code = scramble(index, seed);
    for p in INDEX_DIGITS {
        body[p] = BASE36[(code % 36) as usize];
        code /= 36;
    }
    let mut id = String::with_capacity(22);
    id.push_str("j_");
    id.extend(body.iter().map(|&b| b as char));
    id
}

/// A seed-dependent permutation of `0..2^41` (and 2^41 < 36^8): xor, odd
/// multipliers and xor-shifts, all invertible modulo 2^41.
fn scramble(index: u64, seed: u64) -> u64 {
    const M: u64 = (1 << 41) - 1;
    let mut x = (index & M) ^ (mix(seed ^ 0x1D) & M);
    x = x.wrapping_mul(GOLDEN) & M;
    x ^= x >> 19;
    x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9) & M;
    x ^= x >> 23;
    x
}

fn user_id(index: u64) -> String {
    format!("user-{:06}", index + 1)
}

/// Users per unit of language weight before a (language, first name, last
/// name, company) comes back; 9.8 million users in all.
const PER_WEIGHT: u64 = 100_000;
const COMPANIES: u64 = (COMPANY_FIRST.len() * COMPANY_LAST.len()) as u64;
/// Spreads a language's share over all companies; coprime with `COMPANIES`.
const COMPANY_STRIDE: u64 = 1009;

/// Who user `index` is: a keyed permutation of the index, cut into
/// language (in proportion to its weight), last name, first name and
/// company, so no two users of a round share all four. `round` counts the
/// times the 9.8 million combinations have been used up (0 in practice).
struct Person {
    lang: &'static Lang,
    first: &'static str,
    last: &'static str,
    company: u64,
    round: u64,
}

fn person(seed: u64, index: u64) -> Person {
    let total = LANGS.iter().map(|l| l.weight as u64).sum::<u64>() * PER_WEIGHT;
    let round = index / total;
    let mut r = permute(
        index % total,
        total,
        mix(seed ^ 0xFACE ^ round.wrapping_mul(GOLDEN)),
    );
    let mut lang = &LANGS[0];
    for l in LANGS {
        lang = l;
        let size = l.weight as u64 * PER_WEIGHT;
        if r < size {
            break;
        }
        r -= size;
    }
    let last = lang.last[(r % lang.last.len() as u64) as usize];
    r /= lang.last.len() as u64;
    let first = lang.first[(r % lang.first.len() as u64) as usize];
    r /= lang.first.len() as u64;
    // r < COMPANIES here (a test checks every language has room).
    let company = (r * COMPANY_STRIDE + mix(seed ^ 0xC0) % COMPANIES) % COMPANIES;
    Person {
        lang,
        first,
        last,
        company,
        round,
    }
}

// ---------------------------------------------------------------------------
// Places, names, companies

#[derive(Clone, Copy)]
struct Country {
    name: &'static str,
    /// Where local companies register their domains.
    tld: &'static str,
    cities: &'static [&'static str],
}

struct Lang {
    code: &'static str,
    weight: u32,
    first: &'static [&'static str],
    last: &'static [&'static str],
    countries: &'static [(Country, u32)],
    /// Free mail domains popular there, with weights.
    mail: &'static [(&'static str, u32)],
}

const US: Country = Country {
    name: "United States",
    tld: "com",
    cities: &[
        "New York",
        "San Francisco",
        "Austin",
        "Seattle",
        "Chicago",
        "Boston",
        "Denver",
        "Atlanta",
        "Los Angeles",
        "Miami",
    ],
};
const UK: Country = Country {
    name: "United Kingdom",
    tld: "co.uk",
    cities: &[
        "London",
        "Manchester",
        "Edinburgh",
        "Bristol",
        "Leeds",
        "Cambridge",
    ],
};
const CA: Country = Country {
    name: "Canada",
    tld: "ca",
    cities: &["Toronto", "Vancouver", "Montreal", "Ottawa", "Calgary"],
};
const AU: Country = Country {
    name: "Australia",
    tld: "com.au",
    cities: &["Sydney", "Melbourne", "Brisbane", "Perth"],
};
const IE: Country = Country {
    name: "Ireland",
    tld: "ie",
    cities: &["Dublin", "Cork", "Galway"],
};
const IN: Country = Country {
    name: "India",
    tld: "in",
    cities: &["Bengaluru", "Mumbai", "Pune", "Hyderabad", "Delhi"],
};
const FR: Country = Country {
    name: "France",
    tld: "fr",
    cities: &[
        "Paris",
        "Lyon",
        "Marseille",
        "Toulouse",
        "Nantes",
        "Bordeaux",
        "Lille",
    ],
};
const BE: Country = Country {
    name: "Belgium",
    tld: "be",
    cities: &["Brussels", "Antwerp", "Ghent", "Liège"],
};
const CH: Country = Country {
    name: "Switzerland",
    tld: "ch",
    cities: &["Zurich", "Geneva", "Basel", "Lausanne", "Bern"],
};
const CA_FR: Country = Country {
    name: "Canada",
    tld: "ca",
    cities: &["Montreal", "Quebec City", "Gatineau"],
};
const DE: Country = Country {
    name: "Germany",
    tld: "de",
    cities: &[
        "Berlin",
        "Munich",
        "Hamburg",
        "Cologne",
        "Frankfurt",
        "Stuttgart",
        "Leipzig",
    ],
};
const AT: Country = Country {
    name: "Austria",
    tld: "at",
    cities: &["Vienna", "Graz", "Linz", "Salzburg"],
};
const ES: Country = Country {
    name: "Spain",
    tld: "es",
    cities: &[
        "Madrid",
        "Barcelona",
        "Valencia",
        "Seville",
        "Bilbao",
        "Málaga",
    ],
};
const MX: Country = Country {
    name: "Mexico",
    tld: "com.mx",
    cities: &["Mexico City", "Guadalajara", "Monterrey", "Puebla"],
};
const AR: Country = Country {
    name: "Argentina",
    tld: "com.ar",
    cities: &["Buenos Aires", "Córdoba", "Rosario"],
};
const CO: Country = Country {
    name: "Colombia",
    tld: "co",
    cities: &["Bogotá", "Medellín", "Cali"],
};
const CL: Country = Country {
    name: "Chile",
    tld: "cl",
    cities: &["Santiago", "Valparaíso"],
};
const BR: Country = Country {
    name: "Brazil",
    tld: "com.br",
    cities: &[
        "São Paulo",
        "Rio de Janeiro",
        "Belo Horizonte",
        "Curitiba",
        "Porto Alegre",
        "Recife",
        "Florianópolis",
    ],
};
const IT: Country = Country {
    name: "Italy",
    tld: "it",
    cities: &["Milan", "Rome", "Turin", "Bologna", "Florence", "Naples"],
};
const JP: Country = Country {
    name: "Japan",
    tld: "co.jp",
    cities: &[
        "Tokyo", "Osaka", "Yokohama", "Nagoya", "Fukuoka", "Kyoto", "Sapporo",
    ],
};
const NL: Country = Country {
    name: "Netherlands",
    tld: "nl",
    cities: &[
        "Amsterdam",
        "Rotterdam",
        "Utrecht",
        "The Hague",
        "Eindhoven",
    ],
};

const LANGS: &[Lang] = &[
    Lang {
        code: "en",
        weight: 40,
        first: &[
            "James",
            "Mary",
            "John",
            "Patricia",
            "Robert",
            "Jennifer",
            "Michael",
            "Linda",
            "William",
            "Elizabeth",
            "David",
            "Barbara",
            "Richard",
            "Susan",
            "Joseph",
            "Jessica",
            "Thomas",
            "Sarah",
            "Charles",
            "Karen",
            "Daniel",
            "Emily",
            "Matthew",
            "Olivia",
            "Anthony",
            "Emma",
            "Mark",
            "Ava",
            "Andrew",
            "Sophia",
            "Joshua",
            "Chloe",
            "Ryan",
            "Grace",
            "Ethan",
            "Hannah",
            "Noah",
            "Lily",
            "Liam",
            "Zoe",
            "Sam",
            "Alex",
            "Taylor",
            "Jordan",
            "Priya",
            "Aisha",
            "Wei",
            "Kevin",
            "Megan",
            "Tyler",
        ],
        last: &[
            "Smith", "Johnson", "Williams", "Brown", "Jones", "Miller", "Davis", "Wilson",
            "Anderson", "Taylor", "Brooks", "Moore", "Jackson", "Ward", "Lee", "Thompson", "White",
            "Harris", "Clark", "Lewis", "Robinson", "Walker", "Young", "Allen", "King", "Wright",
            "Scott", "Hill", "Green", "Adams", "Baker", "Nelson", "Carter", "Mitchell", "Roberts",
            "Campbell", "Evans", "Turner", "Parker", "Collins", "Edwards", "Stewart", "Murphy",
            "Cook", "Morgan", "Bell", "Cooper", "Reed", "Bailey", "Kelly", "Hughes", "Patel",
            "Nguyen", "Kim", "O'Brien", "Chen", "Shah",
        ],
        countries: &[(US, 62), (UK, 16), (CA, 8), (AU, 6), (IE, 3), (IN, 5)],
        mail: &[
            ("gmail.com", 60),
            ("outlook.com", 12),
            ("yahoo.com", 10),
            ("icloud.com", 10),
            ("hotmail.com", 5),
            ("proton.me", 3),
        ],
    },
    Lang {
        code: "fr",
        weight: 10,
        first: &[
            "Jean",
            "Marie",
            "Pierre",
            "Camille",
            "Louis",
            "Léa",
            "Lucas",
            "Manon",
            "Hugo",
            "Chloé",
            "Théo",
            "Inès",
            "Antoine",
            "Juliette",
            "Nicolas",
            "Sarah",
            "Julien",
            "Élodie",
            "Mathieu",
            "Claire",
            "Thomas",
            "Émilie",
            "Maxime",
            "Céline",
            "Guillaume",
            "Aurélie",
            "Baptiste",
            "Margaux",
            "Romain",
            "Pauline",
            "Clément",
            "Océane",
            "François",
            "Hélène",
            "Benoît",
            "Anaïs",
            "Gaël",
            "Noémie",
            "Raphaël",
            "Zoé",
        ],
        last: &[
            "Martin",
            "Bernard",
            "Dubois",
            "Thomas",
            "Robert",
            "Richard",
            "Petit",
            "Durand",
            "Leroy",
            "Moreau",
            "Simon",
            "Laurent",
            "Lefebvre",
            "Michel",
            "Lemaire",
            "David",
            "Bertrand",
            "Roux",
            "Vincent",
            "Fournier",
            "Morel",
            "Girard",
            "André",
            "Lefèvre",
            "Mercier",
            "Dupont",
            "Lambert",
            "Bonnet",
            "François",
            "Fontaine",
            "Legrand",
            "Garnier",
            "Faure",
            "Rousseau",
            "Blanc",
            "Guérin",
            "Barbier",
            "Henry",
            "Roussel",
            "Chevalier",
            "Gauthier",
            "Perrin",
            "Clément",
        ],
        countries: &[(FR, 78), (BE, 9), (CH, 7), (CA_FR, 6)],
        mail: &[
            ("gmail.com", 50),
            ("orange.fr", 14),
            ("free.fr", 10),
            ("laposte.net", 8),
            ("hotmail.fr", 10),
            ("outlook.fr", 8),
        ],
    },
    Lang {
        code: "de",
        weight: 10,
        first: &[
            "Lukas",
            "Anna",
            "Leon",
            "Lena",
            "Finn",
            "Laura",
            "Jonas",
            "Julia",
            "Paul",
            "Lea",
            "Felix",
            "Hannah",
            "Maximilian",
            "Sophie",
            "Tim",
            "Katharina",
            "Jan",
            "Johanna",
            "Niklas",
            "Marie",
            "Tobias",
            "Sarah",
            "Florian",
            "Lisa",
            "Sebastian",
            "Jana",
            "Moritz",
            "Clara",
            "Stefan",
            "Sabine",
            "Jürgen",
            "Ursula",
            "Matthias",
            "Birgit",
            "Andreas",
            "Petra",
            "Thomas",
            "Monika",
            "Jörg",
            "Lars",
        ],
        last: &[
            "Müller",
            "Schmidt",
            "Schneider",
            "Fischer",
            "Weber",
            "Meyer",
            "Wagner",
            "Becker",
            "Schulz",
            "Hoffmann",
            "Schäfer",
            "Koch",
            "Bauer",
            "Richter",
            "Klein",
            "Wolf",
            "Schröder",
            "Neumann",
            "Schwarz",
            "Zimmermann",
            "Braun",
            "Krüger",
            "Hofmann",
            "Hartmann",
            "Lange",
            "Schmitt",
            "Werner",
            "Schmitz",
            "Krause",
            "Meier",
            "Lehmann",
            "Schmid",
            "Schulze",
            "Maier",
            "Köhler",
            "Herrmann",
            "König",
            "Walter",
            "Mayer",
            "Huber",
            "Kaiser",
            "Fuchs",
            "Peters",
            "Lang",
            "Scholz",
            "Möller",
            "Weiß",
            "Jung",
            "Hahn",
            "Vogel",
        ],
        countries: &[(DE, 80), (AT, 11), (CH, 9)],
        mail: &[
            ("gmail.com", 40),
            ("gmx.de", 20),
            ("web.de", 18),
            ("t-online.de", 10),
            ("outlook.de", 7),
            ("posteo.de", 5),
        ],
    },
    Lang {
        code: "es",
        weight: 12,
        first: &[
            "Alejandro",
            "María",
            "Daniel",
            "Lucía",
            "Pablo",
            "Sofía",
            "Javier",
            "Martina",
            "Sergio",
            "Paula",
            "Carlos",
            "Carmen",
            "Diego",
            "Elena",
            "Adrián",
            "Laura",
            "David",
            "Valeria",
            "Mateo",
            "Ana",
            "Hugo",
            "Isabel",
            "Álvaro",
            "Julia",
            "Manuel",
            "Marta",
            "Jorge",
            "Cristina",
            "Andrés",
            "Alba",
            "Luis",
            "Rocío",
            "José",
            "Camila",
            "Miguel",
            "Valentina",
            "Santiago",
            "Gabriela",
            "Raúl",
            "Natalia",
        ],
        last: &[
            "García",
            "Rodríguez",
            "González",
            "Fernández",
            "López",
            "Martínez",
            "Sánchez",
            "Pérez",
            "Gómez",
            "Herrera",
            "Jiménez",
            "Ruiz",
            "Hernández",
            "Díaz",
            "Moreno",
            "Muñoz",
            "Álvarez",
            "Romero",
            "Alonso",
            "Gutiérrez",
            "Navarro",
            "Torres",
            "Domínguez",
            "Vázquez",
            "Ramos",
            "Gil",
            "Ramírez",
            "Serrano",
            "Blanco",
            "Molina",
            "Morales",
            "Suárez",
            "Ortega",
            "Delgado",
            "Castro",
            "Ortiz",
            "Rubio",
            "Marín",
            "Sanz",
            "Núñez",
            "Iglesias",
            "Medina",
            "Garrido",
            "Castillo",
            "Cortés",
            "Vargas",
            "Rojas",
            "Flores",
        ],
        countries: &[(ES, 45), (MX, 28), (AR, 12), (CO, 10), (CL, 5)],
        mail: &[
            ("gmail.com", 62),
            ("hotmail.com", 16),
            ("outlook.es", 10),
            ("yahoo.es", 7),
            ("icloud.com", 5),
        ],
    },
    Lang {
        code: "pt-BR",
        weight: 9,
        first: &[
            "João",
            "Maria",
            "Pedro",
            "Ana",
            "Lucas",
            "Juliana",
            "Gabriel",
            "Mariana",
            "Rafael",
            "Fernanda",
            "Matheus",
            "Beatriz",
            "Gustavo",
            "Larissa",
            "Felipe",
            "Camila",
            "Bruno",
            "Amanda",
            "Thiago",
            "Letícia",
            "Leonardo",
            "Bianca",
            "Rodrigo",
            "Carolina",
            "Vinícius",
            "Isabela",
            "Guilherme",
            "Luana",
            "Eduardo",
            "Gabriela",
            "André",
            "Vitória",
            "Caio",
            "Aline",
            "Renato",
            "Patrícia",
            "Diego",
            "Natália",
            "Henrique",
            "Lívia",
        ],
        last: &[
            "Silva",
            "Santos",
            "Oliveira",
            "Souza",
            "Rodrigues",
            "Ferreira",
            "Alves",
            "Pereira",
            "Lima",
            "Gomes",
            "Costa",
            "Ribeiro",
            "Martins",
            "Carvalho",
            "Almeida",
            "Lopes",
            "Soares",
            "Fernandes",
            "Vieira",
            "Barbosa",
            "Rocha",
            "Dias",
            "Nascimento",
            "Andrade",
            "Moreira",
            "Nunes",
            "Marques",
            "Machado",
            "Mendes",
            "Freitas",
            "Cardoso",
            "Campos",
            "Gonçalves",
            "Santana",
            "Teixeira",
            "Araújo",
            "Cavalcanti",
            "Monteiro",
            "Moura",
            "Correia",
            "Pinto",
            "Azevedo",
        ],
        countries: &[(BR, 100)],
        mail: &[
            ("gmail.com", 66),
            ("hotmail.com", 14),
            ("outlook.com", 8),
            ("uol.com.br", 6),
            ("bol.com.br", 3),
            ("yahoo.com.br", 3),
        ],
    },
    Lang {
        code: "it",
        weight: 6,
        first: &[
            "Francesco",
            "Giulia",
            "Alessandro",
            "Sofia",
            "Lorenzo",
            "Aurora",
            "Leonardo",
            "Alice",
            "Mattia",
            "Ginevra",
            "Andrea",
            "Emma",
            "Gabriele",
            "Giorgia",
            "Riccardo",
            "Beatrice",
            "Tommaso",
            "Chiara",
            "Edoardo",
            "Anna",
            "Marco",
            "Francesca",
            "Luca",
            "Elena",
            "Giuseppe",
            "Martina",
            "Matteo",
            "Sara",
            "Davide",
            "Valentina",
            "Federico",
            "Federica",
            "Stefano",
            "Silvia",
            "Paolo",
            "Alessia",
            "Simone",
            "Elisa",
            "Niccolò",
            "Ilaria",
        ],
        last: &[
            "Rossi",
            "Russo",
            "Ferrari",
            "Esposito",
            "Bianchi",
            "Romano",
            "Colombo",
            "Ricci",
            "Marino",
            "Greco",
            "Bruno",
            "Gallo",
            "Conti",
            "De Luca",
            "Mancini",
            "Fabbri",
            "Giordano",
            "Rizzo",
            "Lombardi",
            "Moretti",
            "Barbieri",
            "Fontana",
            "Santoro",
            "Mariani",
            "Rinaldi",
            "Caruso",
            "Ferrara",
            "Galli",
            "Martini",
            "Leone",
            "Longo",
            "Gentile",
            "Martinelli",
            "Vitale",
            "Lombardo",
            "Serra",
            "Coppola",
            "De Santis",
            "D'Angelo",
            "Marchetti",
        ],
        countries: &[(IT, 92), (CH, 8)],
        mail: &[
            ("gmail.com", 55),
            ("libero.it", 15),
            ("hotmail.it", 10),
            ("virgilio.it", 7),
            ("outlook.it", 8),
            ("tiscali.it", 5),
        ],
    },
    Lang {
        code: "ja",
        weight: 6,
        first: &[
            "Haruto", "Yui", "Sota", "Hina", "Yuto", "Sakura", "Riku", "Aoi", "Hinata", "Yuna",
            "Minato", "Mei", "Ren", "Rin", "Sora", "Mio", "Kaito", "Akari", "Takumi", "Yuki",
            "Kenji", "Yumi", "Hiroshi", "Keiko", "Takeshi", "Naomi", "Daiki", "Ayaka", "Shota",
            "Misaki", "Kazuki", "Haruka", "Ryota", "Nanami", "Yusuke", "Emi", "Kenta", "Saki",
            "Tatsuya", "Asuka",
        ],
        last: &[
            "Sato",
            "Suzuki",
            "Takahashi",
            "Tanaka",
            "Watanabe",
            "Ito",
            "Yamamoto",
            "Nakamura",
            "Kobayashi",
            "Kato",
            "Yoshida",
            "Yamada",
            "Sasaki",
            "Yamaguchi",
            "Matsumoto",
            "Inoue",
            "Kimura",
            "Hayashi",
            "Shimizu",
            "Yamazaki",
            "Mori",
            "Abe",
            "Ikeda",
            "Hashimoto",
            "Yamashita",
            "Ishikawa",
            "Nakajima",
            "Maeda",
            "Fujita",
            "Ogawa",
            "Goto",
            "Okada",
            "Hasegawa",
            "Murakami",
            "Kondo",
            "Ishii",
            "Saito",
            "Sakamoto",
            "Endo",
            "Aoki",
        ],
        countries: &[(JP, 100)],
        mail: &[
            ("gmail.com", 50),
            ("yahoo.co.jp", 25),
            ("icloud.com", 12),
            ("outlook.jp", 8),
            ("docomo.ne.jp", 5),
        ],
    },
    Lang {
        code: "nl",
        weight: 5,
        first: &[
            "Daan", "Emma", "Sem", "Julia", "Lucas", "Mila", "Levi", "Tess", "Finn", "Sophie",
            "Milan", "Zoë", "Luuk", "Sara", "Bram", "Anna", "Thijs", "Fleur", "Jesse", "Lotte",
            "Ruben", "Eva", "Sander", "Femke", "Joost", "Sanne", "Pieter", "Anouk", "Jeroen",
            "Lieke", "Koen", "Noor", "Wouter", "Iris", "Stijn", "Maud", "Bas", "Floor", "Niels",
            "Roos",
        ],
        last: &[
            "de Jong",
            "Jansen",
            "de Vries",
            "van den Berg",
            "van Dijk",
            "Bakker",
            "Janssen",
            "Visser",
            "Smit",
            "Meijer",
            "de Boer",
            "Mulder",
            "de Groot",
            "Bos",
            "Vos",
            "Huisman",
            "Hendriks",
            "van Leeuwen",
            "Dekker",
            "Brouwer",
            "de Wit",
            "Dijkstra",
            "Smits",
            "de Graaf",
            "van der Meer",
            "van der Linden",
            "Kok",
            "Jacobs",
            "de Haan",
            "Vermeulen",
            "van den Heuvel",
            "van der Veen",
            "van den Broek",
            "de Bruijn",
            "de Bruin",
            "van der Heijden",
            "Schouten",
            "van Beek",
            "Willems",
            "van Vliet",
        ],
        countries: &[(NL, 85), (BE, 15)],
        mail: &[
            ("gmail.com", 55),
            ("hotmail.nl", 13),
            ("outlook.com", 12),
            ("ziggo.nl", 8),
            ("kpnmail.nl", 7),
            ("live.nl", 5),
        ],
    },
];

const COMPANY_FIRST: &[&str] = &[
    "Acme",
    "Northwind",
    "Bluefin",
    "Brightline",
    "Nova",
    "Summit",
    "Vertex",
    "Lumen",
    "Pixel",
    "Cedar",
    "Harbor",
    "Atlas",
    "Orbit",
    "Aurora",
    "Zenith",
    "Ironclad",
    "Maple",
    "Quantum",
    "Silverline",
    "Redwood",
    "Evergreen",
    "Beacon",
    "Copper",
    "Falcon",
    "Granite",
    "Helix",
    "Juniper",
    "Kestrel",
    "Lighthouse",
    "Meridian",
    "Nimbus",
    "Oakridge",
    "Pinnacle",
    "Quartz",
    "Riverbend",
    "Sapphire",
    "Tidal",
    "Umbra",
    "Velvet",
    "Willow",
    "Yellowstone",
    "Zephyr",
    "Starling",
    "Clearwater",
    "Foxglove",
    "Gridline",
    "Hightide",
    "Keystone",
    "Alpine",
    "Bramble",
    "Cobalt",
    "Driftwood",
    "Emberly",
    "Fjord",
    "Glacier",
    "Hawthorn",
    "Indigo",
    "Jasper",
    "Kinetic",
    "Larkspur",
    "Monarch",
    "Nettle",
    "Obsidian",
    "Paragon",
    "Quill",
    "Rosewood",
    "Sequoia",
    "Thistle",
    "Upland",
    "Vantage",
    "Wildflower",
    "Xenon",
    "Yarrow",
    "Zinnia",
    "Blackbird",
    "Canopy",
    "Dovetail",
    "Fernhill",
];
const COMPANY_LAST: &[(&str, &str)] = &[
    // (shown, in the domain)
    ("Labs", "labs"),
    ("Systems", "systems"),
    ("Analytics", "analytics"),
    ("Software", ""),
    ("Cloud", "cloud"),
    ("Health", "health"),
    ("Logistics", "logistics"),
    ("Media", "media"),
    ("Studio", "studio"),
    ("Retail", "retail"),
    ("Energy", "energy"),
    ("Partners", "partners"),
    ("Robotics", "robotics"),
    ("Finance", "finance"),
    ("Security", "security"),
    ("Learning", "learning"),
    ("Travel", "travel"),
    ("Foods", "foods"),
    ("Bank", "bank"),
    ("Insurance", "insurance"),
    ("HQ", "hq"),
    ("Technologies", "tech"),
    ("Group", "group"),
    ("Commerce", "commerce"),
];
const COMPANY_TLDS: &[&str] = &[
    "com", "com", "com", "io", "co", "com", "ai", "io", "app", "com", "dev",
];

// ---------------------------------------------------------------------------
// Product data

#[derive(Clone, Copy, PartialEq, Eq)]
enum Plan {
    Free,
    Starter,
    Pro,
    Enterprise,
}

impl Plan {
    fn name(self) -> &'static str {
        match self {
            Plan::Free => "Free",
            Plan::Starter => "Starter",
            Plan::Pro => "Pro",
            Plan::Enterprise => "Enterprise",
        }
    }
}

const PLANS: &[(Plan, u32)] = &[
    (Plan::Free, 45),
    (Plan::Starter, 25),
    (Plan::Pro, 22),
    (Plan::Enterprise, 8),
];

const ROLES: &[(&str, u32)] = &[
    ("Founder", 6),
    ("CEO", 3),
    ("Product Manager", 16),
    ("Developer", 18),
    ("Engineering Manager", 6),
    ("Designer", 8),
    ("Marketing Manager", 10),
    ("Growth Lead", 4),
    ("Customer Success Manager", 8),
    ("Sales Representative", 6),
    ("Data Analyst", 6),
    ("Support Agent", 5),
    ("Operations Manager", 3),
    ("Other", 3),
];

const SIGNUP_SOURCES: &[(&str, u32)] = &[
    ("organic", 30),
    ("google_ads", 16),
    ("referral", 14),
    ("linkedin", 8),
    ("product_hunt", 5),
    ("partner", 5),
    ("webinar", 5),
    ("g2", 6),
    ("content", 8),
    ("event", 3),
];

const UTM_SOURCES: &[(&str, u32)] = &[
    ("google", 38),
    ("linkedin", 12),
    ("newsletter", 10),
    ("twitter", 6),
    ("facebook", 7),
    ("bing", 4),
    ("producthunt", 4),
    ("partner", 5),
    ("capterra", 5),
    ("youtube", 5),
    ("reddit", 4),
];

const FEATURES: &[(&str, f64)] = &[
    ("dashboards", 0.85),
    ("reports", 0.6),
    ("segments", 0.55),
    ("exports", 0.35),
    ("api", 0.25),
    ("integrations", 0.4),
    ("alerts", 0.3),
    ("automations", 0.2),
    ("templates", 0.3),
    ("personalization", 0.25),
    ("sso", 0.0),
];

const APP_VERSIONS: &[&str] = &[
    "1.8.4", "1.9.0", "1.9.2", "2.0.0", "2.0.3", "2.1.0", "2.1.1", "2.2.0", "2.2.4", "2.3.0",
    "2.3.1",
];

const BROWSERS: &[(&str, u32)] = &[
    ("Chrome", 64),
    ("Safari", 19),
    ("Edge", 8),
    ("Firefox", 6),
    ("Opera", 2),
    ("Samsung Internet", 1),
];
const DEVICE_FAMILIES: &[(&str, u32)] = &[
    ("Mac", 38),
    ("Windows", 34),
    ("iPhone", 10),
    ("Android", 7),
    ("Linux", 6),
    ("iPad", 3),
    ("Chromebook", 2),
];
const LANDING_PAGES: &[(&str, u32)] = &[
    ("/", 30),
    ("/pricing", 18),
    ("/features/segments", 8),
    ("/features/personalization", 6),
    ("/blog/user-onboarding-checklist", 7),
    ("/blog/product-adoption-metrics", 6),
    ("/integrations/hubspot", 4),
    ("/integrations/segment", 4),
    ("/signup", 9),
    ("/customers", 4),
    ("/docs/getting-started", 4),
];

// ---------------------------------------------------------------------------
// Users

fn ms(seconds: i64) -> i64 {
    seconds * 1000
}

fn date(seconds: i64) -> AttrValue {
    AttrValue::Date(DateTime::from_timestamp(seconds, 0).unwrap_or_default())
}

fn attr(name: &str, value: AttrValue, source: &'static str, updated: i64) -> NewAttribute {
    NewAttribute {
        name: name.to_string(),
        value,
        source,
        updated_at: ms(updated),
    }
}

fn string(s: &str) -> AttrValue {
    AttrValue::String(s.to_string())
}

fn anonymous(rng: &mut Rng, jimer_id: String, now: i64) -> NewUser {
    // Visitors who never sign up are mostly recent: older ones stop coming.
    let u = rng.f64();
    let created = now - (90.0 * DAY as f64 * u * u) as i64;
    let u = rng.f64();
    let sessions = 1 + (5.0 * u * u * u) as i64;
    let last_activity = if sessions == 1 {
        (created + rng.range(0, 20 * MINUTE)).min(now)
    } else {
        // A visitor who arrived within the hour came back within it too.
        rng.recent_between((created + HOUR).min(now), now)
    };
    let mut attributes = Vec::with_capacity(3);
    if rng.chance(0.7) {
        let page = rng.weighted(LANDING_PAGES);
        attributes.push(attr("landing_page", string(page), "custom", created));
    }
    if rng.chance(0.45) {
        let utm = rng.weighted(UTM_SOURCES);
        attributes.push(attr("utm_source", string(utm), "segment", created));
    }
    if rng.chance(0.4) {
        let browser = rng.weighted(BROWSERS);
        attributes.push(attr("$browser", string(browser), "mixpanel", last_activity));
    }
    NewUser {
        jimer_id,
        user_id: None,
        name: None,
        email: None,
        language: None,
        first_seen: Some(ms(created)),
        last_activity: Some(ms(last_activity)),
        sessions,
        created: ms(created),
        tags: Vec::new(),
        attributes,
    }
}

fn identified(rng: &mut Rng, jimer_id: String, seed: u64, index: u64, now: i64) -> NewUser {
    // Who they are.
    let who = person(seed, index);
    let lang = who.lang;
    let name = format!("{} {}", who.first, who.last);
    let r = rng.f64();
    let language = if r < 0.86 {
        Some(lang.code)
    } else if r < 0.95 {
        // An English interface, or the odd one out.
        Some(if lang.code == "en" {
            LANGS[1 + rng.below(LANGS.len() as u64 - 1) as usize].code
        } else {
            "en"
        })
    } else {
        None
    };
    let country = if rng.chance(0.9) {
        rng.weighted(lang.countries)
    } else {
        let other = &LANGS[rng.below(LANGS.len() as u64) as usize];
        rng.weighted(other.countries)
    };
    let ci = (who.company / COMPANY_LAST.len() as u64) as usize;
    let cj = (who.company % COMPANY_LAST.len() as u64) as usize;
    let company = format!("{} {}", COMPANY_FIRST[ci], COMPANY_LAST[cj].0);
    let work_email = rng.chance(0.55);
    let email = if work_email {
        let mut domain = String::with_capacity(32);
        company_label(&mut domain, who.company);
        domain.push('.');
        // Local companies often use their country's domain.
        domain.push_str(if rng.chance(0.4) {
            country.tld
        } else {
            COMPANY_TLDS[(ci * 7 + cj * 3) % COMPANY_TLDS.len()]
        });
        work_address(rng, &who, &domain)
    } else {
        let domain = rng.weighted(lang.mail);
        free_address(rng, &who, domain)
    };

    // When: more recent signups are more common (age ∝ u^1.5).
    let u = rng.f64();
    let created = now - (HISTORY as f64 * u * u.sqrt()) as i64;
    let first_seen = (created + rng.range(0, 90)).min(now);
    let span = now - first_seen;
    let last_activity = match rng.below(100) {
        0..=34 => now - rng.range(0, span.min(3 * DAY)),
        35..=64 => now - rng.range(0, span.min(30 * DAY)),
        _ => rng.range(first_seen, now),
    };
    let active_days = (last_activity - first_seen) as f64 / DAY as f64;
    let u = rng.f64();
    // Most people come back now and then; a few live in the product.
    let per_day = 0.01 + 0.5 * u * u * u;
    let sessions = (1 + (active_days * per_day) as i64).min(500);
    let idle_days = (now - last_activity) / DAY;
    // Any time in the user's life, for values set along the way.
    let during = |rng: &mut Rng| rng.range(created, last_activity);

    // What they bought.
    let plan = rng.weighted(PLANS);
    let team_size: i64 = match plan {
        Plan::Free => rng.range(1, 5),
        Plan::Starter => rng.range(2, 15),
        Plan::Pro => {
            let u = rng.f64();
            5 + (75.0 * u * u) as i64
        }
        Plan::Enterprise => {
            let u = rng.f64();
            50 + (4950.0 * u * u * u) as i64
        }
    };
    let mrr: i64 = match plan {
        Plan::Free => 0,
        Plan::Starter => rng.pick(&[29, 29, 49, 49, 79]),
        Plan::Pro => 99 + 15 * team_size.min(60),
        Plan::Enterprise => (1_500 + 8 * team_size + rng.range(0, 40) * 250) / 50 * 50,
    };
    let onboarding_completed = rng.chance(match plan {
        Plan::Free => 0.45,
        Plan::Starter => 0.7,
        Plan::Pro => 0.82,
        Plan::Enterprise => 0.9,
    });
    let plan_changed = during(rng);

    let mut attributes = Vec::with_capacity(18);
    attributes.push(attr("plan", string(plan.name()), "custom", plan_changed));
    if rng.chance(0.92) {
        let role = rng.weighted(ROLES);
        attributes.push(attr("role", string(role), "custom", during(rng)));
    }
    let size = AttrValue::Number(team_size as f64);
    attributes.push(attr("team_size", size, "custom", during(rng)));
    let mrr_value = AttrValue::Number(mrr as f64);
    attributes.push(attr("mrr", mrr_value, "custom", plan_changed));
    // CRM syncs run every few hours.
    let synced = (now - rng.range(0, 6 * HOUR)).max(created);
    if work_email || rng.chance(0.6) {
        let company = AttrValue::String(company);
        attributes.push(attr("company", company, "hubspot", synced));
    }
    let lifecycle = match plan {
        Plan::Free if team_size >= 4 && rng.chance(0.4) => {
            rng.pick(&["salesqualifiedlead", "opportunity"])
        }
        Plan::Free => rng.pick(&["subscriber", "lead", "lead", "marketingqualifiedlead"]),
        _ if rng.chance(0.08) => "evangelist",
        _ => "customer",
    };
    attributes.push(attr(
        "lifecycle_stage",
        string(lifecycle),
        "hubspot",
        synced,
    ));
    attributes.push(attr("country", string(country.name), "custom", first_seen));
    // Recently active users run recent versions.
    let latest = APP_VERSIONS.len() as i64 - 1;
    let v = (latest - idle_days / 45 - rng.range(0, 2)).clamp(0, latest);
    let version = string(APP_VERSIONS[v as usize]);
    attributes.push(attr("app_version", version, "custom", last_activity));
    let scale = match plan {
        Plan::Free => 0.55,
        Plan::Starter => 0.8,
        Plan::Pro => 1.0,
        Plan::Enterprise => 1.1,
    } * if onboarding_completed { 1.0 } else { 0.6 };
    let mut features = Vec::with_capacity(FEATURES.len());
    for &(feature, p) in FEATURES {
        let p = match (feature, plan) {
            ("sso", Plan::Enterprise) => 0.7,
            ("sso", Plan::Pro) => 0.1,
            _ => p * scale,
        };
        if rng.chance(p) {
            features.push(feature.to_string());
        }
    }
    let features = AttrValue::Array(features);
    attributes.push(attr("features_used", features, "custom", during(rng)));
    let onboarded_at = (first_seen + rng.range(0, 3 * DAY)).min(last_activity);
    let onboarded = AttrValue::Boolean(onboarding_completed);
    attributes.push(attr(
        "onboarding_completed",
        onboarded,
        "custom",
        onboarded_at,
    ));
    if plan == Plan::Free {
        let trial_end = date(first_seen + 14 * DAY);
        attributes.push(attr("trial_ends_at", trial_end, "custom", first_seen));
    } else {
        let period = if rng.chance(0.3) { 365 * DAY } else { 30 * DAY };
        let renewal = date(created + ((now - created) / period + 1) * period);
        attributes.push(attr("renewal_date", renewal, "custom", plan_changed));
    }
    let last_login = (last_activity - rng.range(0, 2 * HOUR)).max(first_seen);
    attributes.push(attr("last_login", date(last_login), "custom", last_login));
    if rng.chance(0.35) {
        let score = match rng.below(100) {
            0..=44 => rng.range(9, 10),
            45..=74 => rng.range(7, 8),
            _ => rng.range(0, 6),
        };
        let score = AttrValue::Number(score as f64);
        attributes.push(attr("nps_score", score, "custom", during(rng)));
    }
    let signup_source = rng.weighted(SIGNUP_SOURCES);
    attributes.push(attr(
        "signup_source",
        string(signup_source),
        "custom",
        created,
    ));
    if rng.chance(0.55) {
        let utm = rng.weighted(UTM_SOURCES);
        attributes.push(attr("utm_source", string(utm), "segment", first_seen));
    }
    if matches!(plan, Plan::Pro | Plan::Enterprise) && rng.chance(0.7) {
        let tier = match plan {
            Plan::Enterprise => "Tier 1",
            _ if mrr >= 600 => "Tier 2",
            _ => "Tier 3",
        };
        attributes.push(attr("account_tier", string(tier), "salesforce", synced));
    }
    // One product-analytics tool per customer, sometimes none.
    let (key, value, source) = match rng.below(100) {
        0..=24 => ("$browser", rng.weighted(BROWSERS), "mixpanel"),
        25..=44 => ("device_family", rng.weighted(DEVICE_FAMILIES), "amplitude"),
        45..=64 => ("$geoip_city_name", rng.pick(country.cities), "posthog"),
        _ => ("", "", ""),
    };
    if !key.is_empty() {
        attributes.push(attr(key, string(value), source, last_activity));
    }

    let mut tags = Vec::new();
    if rng.chance(0.1) {
        tags.push("beta".to_string());
    }
    if rng.chance(if plan == Plan::Enterprise { 0.3 } else { 0.03 }) {
        tags.push("vip".to_string());
    }
    if plan != Plan::Free && idle_days > 21 && rng.chance(0.7) || rng.chance(0.02) {
        tags.push("churn-risk".to_string());
    }
    if signup_source == "partner" && rng.chance(0.8) || rng.chance(0.01) {
        tags.push("partner".to_string());
    }

    NewUser {
        jimer_id,
        user_id: Some(user_id(index)),
        name: Some(name),
        email: Some(email),
        language: language.map(str::to_string),
        first_seen: Some(ms(first_seen)),
        last_activity: Some(ms(last_activity)),
        sessions,
        created: ms(created),
        tags,
        attributes,
    }
}

/// The part of a company's domain before the top-level domain:
/// `northwindanalytics`. Distinct for distinct companies (tested).
fn company_label(out: &mut String, company: u64) {
    let ci = (company / COMPANY_LAST.len() as u64) as usize;
    let cj = (company % COMPANY_LAST.len() as u64) as usize;
    fold_into(out, COMPANY_FIRST[ci]);
    out.push_str(COMPANY_LAST[cj].1);
}

/// `first.last@company` (or `first_last@`), with a number only in the
/// unlikely case the person's combination comes round again. Unique: the
/// name part tells the person's names apart and the domain the company.
fn work_address(rng: &mut Rng, who: &Person, domain: &str) -> String {
    let mut s = String::with_capacity(48);
    fold_into(&mut s, who.first);
    s.push(if rng.chance(0.85) { '.' } else { '_' });
    fold_into(&mut s, who.last);
    if who.round > 0 {
        push_number(&mut s, who.round + 1);
    }
    s.push('@');
    s.push_str(domain);
    s
}

/// `maria.garcia1234@gmail.com`, `mariagarcia1234@`, `maria_garcia1234@`:
/// the number tells apart the people who share a name (it stands for their
/// company and round), so the address is unique whatever the domain.
fn free_address(rng: &mut Rng, who: &Person, domain: &str) -> String {
    let mut s = String::with_capacity(48);
    fold_into(&mut s, who.first);
    match rng.below(100) {
        0..=44 => s.push('.'),
        45..=74 => {}
        _ => s.push('_'),
    }
    fold_into(&mut s, who.last);
    push_number(&mut s, who.company + 1 + COMPANIES * who.round);
    s.push('@');
    s.push_str(domain);
    s
}

fn push_number(s: &mut String, n: u64) {
    use std::fmt::Write;
    let _ = write!(s, "{n}");
}

/// Appends `text` folded to what an email address holds: lower-case ASCII
/// letters, accents dropped, spaces and apostrophes removed.
fn fold_into(out: &mut String, text: &str) {
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
            continue;
        }
        out.push_str(match c.to_lowercase().next().unwrap_or(c) {
            'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' => "a",
            'ç' => "c",
            'è' | 'é' | 'ê' | 'ë' => "e",
            'ì' | 'í' | 'î' | 'ï' => "i",
            'ñ' => "n",
            'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' => "o",
            'ù' | 'ú' | 'û' | 'ü' => "u",
            'ý' | 'ÿ' => "y",
            'ß' => "ss",
            _ => "",
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::attribute::{
        parse_value, validate_name, AttrChange, AttrType, MAX_VALUE_CHARS,
    };
    use std::collections::{HashMap, HashSet};

    const NOW: i64 = 1_750_000_000_123;

    fn folded(s: &str) -> String {
        let mut out = String::new();
        fold_into(&mut out, s);
        out
    }

    #[test]
    fn same_inputs_give_the_same_user() {
        for i in [0, 1, 2, 77, 12_345, 999_999, 50_000_000, u64::MAX / 3] {
            assert_eq!(demo_user(7, i, NOW), demo_user(7, i, NOW));
        }
    }

    #[test]
    fn the_stream_is_pinned() {
        // Changing these changes every demo database: do it on purpose only.
        let u = demo_user(42, 0, NOW);
        assert_eq!(u.jimer_id, "j_p7i0yklib6mh37qnvk7l", "{u:#?}");
        assert_eq!(u.user_id.as_deref(), Some("user-000001"));
        assert_eq!(u.name.as_deref(), Some("Thomas Green"));
        assert_eq!(u.email.as_deref(), Some("thomas.green@zinniamedia.com"));
        assert_eq!(u.created, 1_749_980_658_000);
    }

    #[test]
    fn other_seeds_give_other_users() {
        let mut same_name = 0;
        for i in 0..200 {
            let (a, b) = (demo_user(1, i, NOW), demo_user(2, i, NOW));
            assert_ne!(a, b);
            assert_ne!(a.jimer_id, b.jimer_id);
            if a.name == b.name {
                same_name += 1;
            }
        }
        assert!(same_name < 20, "{same_name} of 200 users kept their name");
    }

    #[test]
    fn ids_and_emails_are_unique_and_well_formed() {
        let mut jimer = HashSet::new();
        let mut users = HashSet::new();
        let mut emails = HashSet::new();
        for i in 0..100_000 {
            let u = demo_user(3, i, NOW);
            assert_eq!(u.jimer_id.len(), 22, "{}", u.jimer_id);
            assert!(u.jimer_id.starts_with("j_"));
            assert!(
                u.jimer_id[2..]
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()),
                "{}",
                u.jimer_id
            );
            assert!(jimer.insert(u.jimer_id), "duplicate jimer id at {i}");
            if let Some(id) = u.user_id {
                assert!(users.insert(id), "duplicate user id at {i}");
            }
            if let Some(email) = u.email {
                let ok =
                    |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._@-".contains(&b);
                assert!(email.bytes().all(ok), "{email}");
                let (local, domain) = email.split_once('@').unwrap();
                assert!(!local.is_empty() && domain.contains('.'), "{email}");
                assert!(
                    emails.insert(email.clone()),
                    "duplicate email {email} at {i}"
                );
            }
        }
    }

    #[test]
    fn emails_stay_unique_past_the_first_round() {
        // Users from the second round of combinations, next to the first.
        let total = LANGS.iter().map(|l| l.weight as u64).sum::<u64>() * PER_WEIGHT;
        let mut emails = HashSet::new();
        for i in (0..20_000).chain(total..total + 20_000) {
            if let Some(email) = demo_user(4, i, NOW).email {
                assert!(
                    emails.insert(email.clone()),
                    "duplicate email {email} at {i}"
                );
            }
        }
    }

    #[test]
    fn names_and_companies_make_unique_addresses() {
        // Distinct (language, first, last) give distinct folded name parts,
        // with or without a separator, so addresses cannot collide.
        let mut seen = HashMap::new();
        for l in LANGS {
            for f in l.first {
                for s in l.last {
                    let key = folded(f) + &folded(s);
                    assert!(!folded(f).is_empty() && !folded(s).is_empty());
                    if let Some(prev) = seen.insert(key.clone(), (l.code, *f, *s)) {
                        panic!("{key}: {prev:?} and {:?}", (l.code, f, s));
                    }
                }
            }
        }
        let mut labels = HashSet::new();
        for c in 0..COMPANIES {
            let mut label = String::new();
            company_label(&mut label, c);
            assert!(labels.insert(label.clone()), "company domain {label} twice");
        }
        // Every language has room for its share, and the stride permutes.
        for l in LANGS {
            let room = (l.first.len() * l.last.len()) as u64 * COMPANIES;
            assert!(l.weight as u64 * PER_WEIGHT <= room, "{}", l.code);
        }
        let (mut a, mut b) = (COMPANY_STRIDE, COMPANIES);
        while b != 0 {
            (a, b) = (b, a % b);
        }
        assert_eq!(a, 1, "COMPANY_STRIDE must be coprime with COMPANIES");
    }

    #[test]
    fn permutations_are_permutations() {
        for n in [2, 3, 1_000, 9_973, 65_536, 100_001] {
            let mut seen = vec![false; n as usize];
            for x in 0..n {
                let y = permute(x, n, 77 + n);
                assert!(y < n && !seen[y as usize], "n={n} x={x}");
                seen[y as usize] = true;
            }
        }
        let mut seen = HashSet::new();
        for i in 0..200_000u64 {
            let x = scramble(i, 9);
            assert!(x < 1 << 41);
            assert!(seen.insert(x));
        }
        assert!(
            (1u64 << 41) <= 36u64.pow(8),
            "eight base-36 digits hold every code"
        );
    }

    #[test]
    fn attributes_are_valid_and_typed_consistently() {
        let mut types: HashMap<String, AttrType> = HashMap::new();
        let mut sources: HashMap<String, HashSet<&'static str>> = HashMap::new();
        let (mut identified, mut identified_attrs) = (0, 0);
        let now = NOW / 1000 * 1000;
        for i in 0..10_000 {
            let u = demo_user(11, i, NOW);
            assert!(
                u.created <= now && u.created >= now - HISTORY * 1000,
                "{u:?}"
            );
            let first_seen = u.first_seen.unwrap();
            let last_activity = u.last_activity.unwrap();
            assert!(u.created <= first_seen, "{u:?}");
            assert!(first_seen <= last_activity && last_activity <= now, "{u:?}");
            assert!((1..=500).contains(&u.sessions), "{}", u.sessions);
            for t in &u.tags {
                assert!(
                    ["beta", "vip", "churn-risk", "partner"].contains(&t.as_str()),
                    "{t}"
                );
            }
            if u.user_id.is_some() {
                identified += 1;
                identified_attrs += u.attributes.len();
            } else {
                assert!(u.name.is_none() && u.email.is_none());
                assert!(u.attributes.len() <= 3);
            }
            let mut names = HashSet::new();
            for a in &u.attributes {
                validate_name(&a.name).unwrap_or_else(|e| panic!("{}: {e}", a.name));
                assert!(names.insert(a.name.as_str()), "{} twice", a.name);
                let t = *types.entry(a.name.clone()).or_insert(a.value.attr_type());
                assert_eq!(t, a.value.attr_type(), "{} changes type", a.name);
                sources.entry(a.name.clone()).or_default().insert(a.source);
                assert!(a.updated_at >= u.created && a.updated_at <= now, "{a:?}");
                // The REST API would read back the same value, of the same type.
                match parse_value(&a.name, &a.value.to_json()) {
                    Ok(AttrChange::Set(v)) => assert_eq!(v, a.value, "{}", a.name),
                    other => panic!("{}: {other:?}", a.name),
                }
                assert!(a.value.to_text().chars().count() <= MAX_VALUE_CHARS);
                if let AttrValue::Number(n) = a.value {
                    assert!(n.is_finite() && n >= 0.0);
                }
            }
        }
        let avg = identified_attrs as f64 / identified as f64;
        assert!(
            (12.0..=15.5).contains(&avg),
            "{avg} attributes per identified user"
        );
        for name in [
            "plan",
            "role",
            "team_size",
            "mrr",
            "company",
            "country",
            "app_version",
            "features_used",
            "onboarding_completed",
            "trial_ends_at",
            "renewal_date",
            "last_login",
            "nps_score",
            "signup_source",
            "lifecycle_stage",
            "utm_source",
            "account_tier",
            "$browser",
            "device_family",
            "$geoip_city_name",
            "landing_page",
        ] {
            assert!(types.contains_key(name), "{name} never generated");
        }
        assert_eq!(types["features_used"], AttrType::Array);
        assert_eq!(types["renewal_date"], AttrType::Date);
        assert_eq!(types["mrr"], AttrType::Number);
        assert_eq!(types["onboarding_completed"], AttrType::Boolean);
        assert_eq!(sources["company"], HashSet::from(["hubspot"]));
        assert_eq!(sources["account_tier"], HashSet::from(["salesforce"]));
        assert_eq!(sources["utm_source"], HashSet::from(["segment"]));
        assert_eq!(sources["plan"], HashSet::from(["custom"]));
    }

    #[test]
    fn free_users_pay_nothing_and_languages_follow_names() {
        let (mut free, mut ja, mut ja_names) = (0, 0, 0);
        let mut languages = HashSet::new();
        for i in 0..5_000 {
            let u = demo_user(5, i, NOW);
            let get = |n: &str| u.attributes.iter().find(|a| a.name == n).map(|a| &a.value);
            if get("plan") == Some(&AttrValue::String("Free".into())) {
                free += 1;
                assert_eq!(get("mrr"), Some(&AttrValue::Number(0.0)));
                assert!(get("trial_ends_at").is_some() && get("renewal_date").is_none());
            }
            if let Some(l) = &u.language {
                languages.insert(l.clone());
            }
            if let Some(name) = &u.name {
                let last = name.split(' ').next_back().unwrap();
                if LANGS
                    .iter()
                    .find(|l| l.code == "ja")
                    .unwrap()
                    .last
                    .contains(&last)
                {
                    ja_names += 1;
                    if u.language.as_deref() == Some("ja") {
                        ja += 1;
                    }
                }
            }
        }
        assert!(free > 1_500, "{free}");
        assert!(
            ja_names > 100 && ja as f64 > 0.8 * ja_names as f64,
            "{ja} of {ja_names}"
        );
        assert_eq!(languages.len(), LANGS.len(), "{languages:?}");
    }

    #[test]
    fn about_eight_percent_are_anonymous() {
        let n = 100_000;
        let anon = (0..n)
            .filter(|&i| demo_user(21, i, NOW).user_id.is_none())
            .count();
        let share = anon as f64 / n as f64;
        assert!((0.075..0.085).contains(&share), "{share}");
    }

    #[tokio::test]
    async fn fill_writes_every_user_and_attribute() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("demo.db").display());
        let store = Store::open(&url).await.unwrap();
        let ws = store.default_workspace().await.unwrap().id;
        // Three chunks, the last one short.
        let n = 2 * CHUNK + 321;
        fill(&store, ws, n, 9, false).await.unwrap();
        let page = store.list_users(ws, &Default::default()).await.unwrap();
        assert_eq!(page.total, n as i64);
        let identified = (0..n)
            .filter(|&i| demo_user(9, i, NOW).user_id.is_some())
            .count() as i64;
        let defs = store.definitions(ws).await.unwrap();
        let plan = defs.iter().find(|d| d.name == "plan").unwrap();
        assert_eq!((plan.attr_type, plan.users), (AttrType::String, identified));
        let company = defs.iter().find(|d| d.name == "company").unwrap();
        assert_eq!(company.sources, vec!["hubspot".to_string()]);
    }

    /// Prints generation speed; a figure, not an assertion:
    /// `cargo test --features ssr --lib demo::tests::generation_speed -- --ignored --nocapture`
    #[test]
    #[ignore]
    fn generation_speed() {
        let n = 200_000u64;
        let start = std::time::Instant::now();
        let mut attrs = 0usize;
        for i in 0..n {
            attrs += demo_user(1, i, NOW).attributes.len();
        }
        let secs = start.elapsed().as_secs_f64();
        eprintln!(
            "{n} users ({attrs} attributes) in {secs:.2}s: {:.0} users/s",
            n as f64 / secs
        );
    }
}
