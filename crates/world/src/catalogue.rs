//! The concept catalogue: every concept the world knows, with the words, colours and shape that identify it.
//!
//! The families mirror the neuron families of Goh et al. (colours, objects with typical colours, animals, a
//! costumed-hero universe, emotions, geography, plants, seasons and weather, letters and numbers). Concepts are data;
//! how a shape is drawn lives in `render::shapes`.

// The catalogue tables are tuples on purpose: one concept per line reads best as data.
#![allow(clippy::type_complexity)]

/// A neuron family of the article, used to group concepts and to pick family-specific captions and scenes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Family {
    Colour,
    Object,
    Animal,
    Character,
    Emotion,
    Geography,
    Plant,
    Weather,
    Symbol,
}

impl Family {
    pub const ALL: [Family; 9] = [
        Family::Colour,
        Family::Object,
        Family::Animal,
        Family::Character,
        Family::Emotion,
        Family::Geography,
        Family::Plant,
        Family::Weather,
        Family::Symbol,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Family::Colour => "colour",
            Family::Object => "object",
            Family::Animal => "animal",
            Family::Character => "character",
            Family::Emotion => "emotion",
            Family::Geography => "geography",
            Family::Plant => "plant",
            Family::Weather => "weather",
            Family::Symbol => "symbol",
        }
    }
}

/// How a concept's name behaves in an English caption.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Article {
    /// Countable: "a banana", "an apple".
    A,
    /// Proper or mass noun: "Webstrider", "rain", "red".
    Bare,
    /// "the north", "the ocean".
    The,
}

/// Compass regions of the procedural world map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir {
    North,
    South,
    East,
    West,
    Ocean,
}

/// Chest emblems of the invented characters; they are also the characters' icons.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Emblem {
    Spider,
    Star,
    Bolt,
    Flame,
    Snowflake,
    Moon,
    Diamond,
    Skull,
    Eye,
    Drop,
    Leaf,
    Wing,
    Sun,
}

/// Faces for the emotion family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mood {
    Happy,
    Sad,
    Surprised,
    Angry,
    Scared,
    Sleepy,
    Stressed,
    Love,
    Disgusted,
    Laughing,
}

/// Ear styles for the four-legged animal builder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ears {
    Round,
    Pointy,
    Floppy,
    Long,
    Big,
}

/// Parameters of the shared four-legged animal drawing; the differences (antlers, trunk, hump, mane) identify it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Quad {
    pub body_w: f32,
    pub body_h: f32,
    pub leg: f32,
    pub ears: Ears,
    pub antlers: bool,
    pub trunk: bool,
    pub hump: bool,
    pub mane: bool,
    pub snout: bool,
    pub tail: f32,
}

/// A flag layout; with two or three colours it makes each country's flag distinct.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlagLayout {
    HStripes,
    VStripes,
    Cross,
    Disc,
    Triangle,
    Diagonal,
    Star,
    Border,
}

/// A drawable shape. Each variant is turned into coloured parts by `render::shapes`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Shape {
    Swatch,
    Banana,
    Lemon,
    Round {
        leaf: bool,
        dimple: bool,
    },
    Cherry,
    Grapes,
    Strawberry,
    Carrot,
    Pear,
    Watermelon,
    Eggplant,
    Corn,
    Pumpkin,
    Broccoli,
    Balloon,
    Car {
        ladder: bool,
    },
    Chocolate,
    Carton,
    Spider,
    Quad(Quad),
    Fish,
    Bird,
    Frog,
    Snake,
    Owl,
    Bee,
    Ladybug,
    Penguin,
    Crab,
    Whale,
    Hero {
        emblem: Emblem,
        cape: bool,
        mask: bool,
    },
    Face(Mood),
    Region(Dir),
    Country {
        layout: FlagLayout,
        c3: [u8; 3],
        blob: u32,
    },
    Conifer,
    Palm,
    Cactus,
    Bamboo,
    Oak,
    Sunflower,
    Rose,
    Tulip,
    Sun,
    Cloud,
    Rain,
    Snow,
    Storm,
    Rainbow,
    Wind,
    Spring,
    Summer,
    Autumn,
    Winter,
    Glyph(char),
}

/// One concept of the world.
#[derive(Clone, Debug)]
pub struct Concept {
    pub id: usize,
    /// The canonical name, lower case: the bare zero-shot prompt.
    pub name: String,
    pub family: Family,
    /// Associated words (yellow: banana, lemon, sun). Words that name other concepts link them in scenes.
    pub words: Vec<String>,
    /// Typical colour: what a photo, drawing and icon of the concept are dominated by.
    pub colour: [u8; 3],
    /// Secondary colour (stem, costume trim, second flag colour).
    pub colour2: [u8; 3],
    pub shape: Shape,
    pub article: Article,
    /// The map region a country, animal or plant belongs to, if any.
    pub region: Option<Dir>,
}

pub const RED: [u8; 3] = [220, 30, 35];
pub const ORANGE: [u8; 3] = [245, 130, 20];
pub const YELLOW: [u8; 3] = [250, 215, 30];
pub const GREEN: [u8; 3] = [40, 160, 50];
pub const BLUE: [u8; 3] = [30, 80, 215];
pub const PURPLE: [u8; 3] = [130, 45, 170];
pub const PINK: [u8; 3] = [245, 120, 180];
pub const BROWN: [u8; 3] = [120, 72, 35];
pub const BLACK: [u8; 3] = [25, 25, 28];
pub const WHITE: [u8; 3] = [245, 245, 242];
pub const GREY: [u8; 3] = [140, 140, 145];
pub const DARKGREEN: [u8; 3] = [25, 100, 40];
pub const TAN: [u8; 3] = [200, 160, 100];
pub const SKY: [u8; 3] = [120, 180, 240];
pub const GOLD: [u8; 3] = [225, 175, 40];

struct Builder {
    list: Vec<Concept>,
}

impl Builder {
    #[allow(clippy::too_many_arguments)]
    fn add(
        &mut self,
        family: Family,
        name: &str,
        words: &[&str],
        colour: [u8; 3],
        colour2: [u8; 3],
        shape: Shape,
        article: Article,
        region: Option<Dir>,
    ) {
        let id = self.list.len();
        self.list.push(Concept {
            id,
            name: name.to_string(),
            family,
            words: words.iter().map(|w| w.to_string()).collect(),
            colour,
            colour2,
            shape,
            article,
            region,
        });
    }
}

const fn quad(body_w: f32, body_h: f32, leg: f32, ears: Ears) -> Quad {
    Quad {
        body_w,
        body_h,
        leg,
        ears,
        antlers: false,
        trunk: false,
        hump: false,
        mane: false,
        snout: false,
        tail: 0.3,
    }
}

/// The invented countries: name, region, flag layout, three flag colours, regional animal and plant words.
const COUNTRIES: [(&str, Dir, FlagLayout, [u8; 3], [u8; 3], [u8; 3], &[&str]); 14] = [
    (
        "frostholm",
        Dir::North,
        FlagLayout::Cross,
        WHITE,
        BLUE,
        RED,
        &["north", "bear", "conifer", "snow"],
    ),
    (
        "pinevale",
        Dir::North,
        FlagLayout::Triangle,
        DARKGREEN,
        WHITE,
        BROWN,
        &["north", "moose", "conifer", "winter"],
    ),
    (
        "kalvik",
        Dir::North,
        FlagLayout::HStripes,
        SKY,
        WHITE,
        BLACK,
        &["north", "moose", "bear", "snow"],
    ),
    (
        "sunmara",
        Dir::South,
        FlagLayout::Disc,
        YELLOW,
        ORANGE,
        RED,
        &["south", "camel", "cactus", "sun"],
    ),
    (
        "dunesh",
        Dir::South,
        FlagLayout::VStripes,
        TAN,
        BROWN,
        GREEN,
        &["south", "camel", "palm", "summer"],
    ),
    (
        "palmaro",
        Dir::South,
        FlagLayout::Diagonal,
        GREEN,
        YELLOW,
        BLUE,
        &["south", "lion", "palm", "sun"],
    ),
    (
        "jadeon",
        Dir::East,
        FlagLayout::Star,
        GREEN,
        GOLD,
        WHITE,
        &["east", "elephant", "bamboo", "rain"],
    ),
    (
        "lotara",
        Dir::East,
        FlagLayout::Border,
        PINK,
        WHITE,
        PURPLE,
        &["east", "bird", "rose", "spring"],
    ),
    (
        "bambora",
        Dir::East,
        FlagLayout::HStripes,
        RED,
        YELLOW,
        GREEN,
        &["east", "frog", "bamboo", "rain"],
    ),
    (
        "canyra",
        Dir::West,
        FlagLayout::VStripes,
        ORANGE,
        WHITE,
        BLUE,
        &["west", "snake", "cactus", "sun"],
    ),
    (
        "sierrel",
        Dir::West,
        FlagLayout::Cross,
        RED,
        YELLOW,
        BLACK,
        &["west", "owl", "oak", "autumn"],
    ),
    (
        "mesaland",
        Dir::West,
        FlagLayout::Triangle,
        BROWN,
        ORANGE,
        YELLOW,
        &["west", "dog", "sunflower", "wind"],
    ),
    (
        "coralia",
        Dir::Ocean,
        FlagLayout::Disc,
        BLUE,
        WHITE,
        PINK,
        &["ocean", "fish", "crab", "palm"],
    ),
    (
        "tidemoor",
        Dir::Ocean,
        FlagLayout::Diagonal,
        SKY,
        BLUE,
        WHITE,
        &["ocean", "whale", "penguin", "cloud"],
    ),
];

/// Build the whole catalogue. Order is fixed: concept ids are stable across runs and releases of this crate.
pub fn catalogue() -> Vec<Concept> {
    use Article::*;
    use Family::*;
    let mut b = Builder { list: Vec::new() };

    // Colours: words are the objects that carry the colour (dense co-occurrence is built from these).
    let colours: [(&str, [u8; 3], &[&str]); 10] = [
        (
            "red",
            RED,
            &[
                "apple",
                "cherry",
                "tomato",
                "strawberry",
                "fire truck",
                "angry",
            ],
        ),
        ("orange", ORANGE, &["carrot", "pumpkin", "autumn", "sunset"]),
        (
            "yellow",
            YELLOW,
            &["banana", "lemon", "sun", "corn", "taxi"],
        ),
        (
            "green",
            GREEN,
            &["lime", "frog", "broccoli", "conifer", "leaf"],
        ),
        ("blue", BLUE, &["ocean", "whale", "sky", "sad"]),
        ("purple", PURPLE, &["grapes", "eggplant", "violet"]),
        ("pink", PINK, &["pig", "rose", "love", "flamingo"]),
        ("brown", BROWN, &["bear", "chocolate", "moose", "wood"]),
        ("black", BLACK, &["night", "spider", "coal", "ink"]),
        ("white", WHITE, &["snow", "milk", "cloud", "winter"]),
    ];
    for (name, c, w) in colours {
        b.add(Colour, name, w, c, c, Shape::Swatch, Bare, None);
    }

    let r = |leaf, dimple| Shape::Round { leaf, dimple };
    let objects: [(&str, &[&str], [u8; 3], [u8; 3], Shape); 20] = [
        (
            "banana",
            &["yellow", "fruit", "peel", "monkey"],
            YELLOW,
            BROWN,
            Shape::Banana,
        ),
        (
            "lemon",
            &["yellow", "sour", "citrus", "fruit"],
            [245, 225, 40],
            DARKGREEN,
            Shape::Lemon,
        ),
        (
            "apple",
            &["red", "fruit", "crunchy", "tree"],
            RED,
            DARKGREEN,
            r(true, true),
        ),
        (
            "cherry",
            &["red", "sweet", "fruit", "pie"],
            [190, 15, 40],
            DARKGREEN,
            Shape::Cherry,
        ),
        (
            "grapes",
            &["purple", "wine", "vine", "fruit"],
            PURPLE,
            DARKGREEN,
            Shape::Grapes,
        ),
        (
            "strawberry",
            &["red", "berry", "sweet", "summer"],
            [230, 35, 50],
            GREEN,
            Shape::Strawberry,
        ),
        (
            "carrot",
            &["orange", "vegetable", "rabbit", "crunchy"],
            ORANGE,
            GREEN,
            Shape::Carrot,
        ),
        (
            "tomato",
            &["red", "vegetable", "sauce", "salad"],
            [235, 50, 30],
            GREEN,
            r(true, false),
        ),
        (
            "lime",
            &["green", "sour", "citrus", "fruit"],
            [110, 200, 40],
            DARKGREEN,
            Shape::Lemon,
        ),
        (
            "pear",
            &["green", "fruit", "sweet", "tree"],
            [170, 205, 60],
            BROWN,
            Shape::Pear,
        ),
        (
            "watermelon",
            &["green", "red", "summer", "juicy"],
            [230, 60, 70],
            GREEN,
            Shape::Watermelon,
        ),
        (
            "eggplant",
            &["purple", "vegetable", "aubergine"],
            [90, 30, 110],
            GREEN,
            Shape::Eggplant,
        ),
        (
            "corn",
            &["yellow", "vegetable", "farm", "popcorn"],
            [245, 205, 50],
            GREEN,
            Shape::Corn,
        ),
        (
            "pumpkin",
            &["orange", "autumn", "halloween", "vegetable"],
            [240, 120, 20],
            DARKGREEN,
            Shape::Pumpkin,
        ),
        (
            "broccoli",
            &["green", "vegetable", "healthy"],
            [50, 140, 45],
            [130, 190, 90],
            Shape::Broccoli,
        ),
        (
            "balloon",
            &["party", "red", "birthday", "float"],
            [225, 40, 60],
            WHITE,
            Shape::Balloon,
        ),
        (
            "taxi",
            &["yellow", "car", "city", "ride"],
            YELLOW,
            BLACK,
            Shape::Car { ladder: false },
        ),
        (
            "fire truck",
            &["red", "fire", "siren", "ladder"],
            RED,
            WHITE,
            Shape::Car { ladder: true },
        ),
        (
            "chocolate",
            &["brown", "sweet", "candy", "cocoa"],
            [100, 55, 25],
            [160, 110, 60],
            Shape::Chocolate,
        ),
        (
            "milk",
            &["white", "cow", "drink", "bottle"],
            WHITE,
            BLUE,
            Shape::Carton,
        ),
    ];
    for (name, w, c, c2, s) in objects {
        b.add(Object, name, w, c, c2, s, A, None);
    }

    let q = quad;
    let animals: [(&str, &[&str], [u8; 3], [u8; 3], Shape, Option<Dir>); 20] = [
        (
            "spider",
            &["web", "eight legs", "black", "creepy"],
            BLACK,
            RED,
            Shape::Spider,
            None,
        ),
        (
            "bear",
            &["brown", "north", "forest", "honey"],
            BROWN,
            [70, 40, 20],
            Shape::Quad(Quad {
                tail: 0.05,
                ..q(0.62, 0.36, 0.22, Ears::Round)
            }),
            Some(Dir::North),
        ),
        (
            "moose",
            &["antlers", "north", "forest", "brown"],
            [95, 60, 35],
            [200, 170, 120],
            Shape::Quad(Quad {
                antlers: true,
                snout: true,
                tail: 0.05,
                ..q(0.58, 0.3, 0.36, Ears::Pointy)
            }),
            Some(Dir::North),
        ),
        (
            "fish",
            &["swim", "water", "ocean", "fins"],
            [240, 140, 30],
            BLUE,
            Shape::Fish,
            Some(Dir::Ocean),
        ),
        (
            "bird",
            &["fly", "wings", "feathers", "sky"],
            [60, 130, 220],
            ORANGE,
            Shape::Bird,
            None,
        ),
        (
            "cat",
            &["meow", "kitten", "whiskers", "pet"],
            [235, 150, 60],
            WHITE,
            Shape::Quad(Quad {
                tail: 0.5,
                ..q(0.46, 0.24, 0.22, Ears::Pointy)
            }),
            None,
        ),
        (
            "dog",
            &["woof", "puppy", "bark", "pet"],
            TAN,
            BROWN,
            Shape::Quad(Quad {
                snout: true,
                tail: 0.35,
                ..q(0.5, 0.28, 0.26, Ears::Floppy)
            }),
            None,
        ),
        (
            "frog",
            &["green", "pond", "jump", "croak"],
            [80, 180, 60],
            WHITE,
            Shape::Frog,
            Some(Dir::East),
        ),
        (
            "snake",
            &["hiss", "scales", "green", "desert"],
            [90, 150, 40],
            YELLOW,
            Shape::Snake,
            Some(Dir::West),
        ),
        (
            "rabbit",
            &["bunny", "hop", "carrot", "ears"],
            [235, 235, 235],
            PINK,
            Shape::Quad(Quad {
                tail: 0.08,
                ..q(0.4, 0.3, 0.12, Ears::Long)
            }),
            None,
        ),
        (
            "elephant",
            &["trunk", "grey", "big", "east"],
            GREY,
            [200, 200, 200],
            Shape::Quad(Quad {
                trunk: true,
                tail: 0.2,
                ..q(0.64, 0.4, 0.3, Ears::Big)
            }),
            Some(Dir::East),
        ),
        (
            "pig",
            &["pink", "oink", "farm", "mud"],
            [245, 160, 175],
            [220, 110, 130],
            Shape::Quad(Quad {
                snout: true,
                tail: 0.12,
                ..q(0.56, 0.32, 0.16, Ears::Pointy)
            }),
            None,
        ),
        (
            "owl",
            &["night", "hoot", "wise", "feathers"],
            [140, 100, 60],
            YELLOW,
            Shape::Owl,
            Some(Dir::West),
        ),
        (
            "bee",
            &["honey", "buzz", "yellow", "sting"],
            YELLOW,
            BLACK,
            Shape::Bee,
            None,
        ),
        (
            "ladybug",
            &["red", "spots", "beetle", "garden"],
            RED,
            BLACK,
            Shape::Ladybug,
            None,
        ),
        (
            "penguin",
            &["ice", "cold", "black", "white"],
            BLACK,
            WHITE,
            Shape::Penguin,
            Some(Dir::Ocean),
        ),
        (
            "camel",
            &["desert", "hump", "south", "sand"],
            [210, 165, 95],
            [150, 110, 60],
            Shape::Quad(Quad {
                hump: true,
                tail: 0.15,
                ..q(0.56, 0.26, 0.4, Ears::Round)
            }),
            Some(Dir::South),
        ),
        (
            "crab",
            &["claws", "beach", "red", "ocean"],
            [225, 70, 40],
            WHITE,
            Shape::Crab,
            Some(Dir::Ocean),
        ),
        (
            "whale",
            &["ocean", "blue", "big", "splash"],
            [50, 90, 170],
            [190, 210, 230],
            Shape::Whale,
            Some(Dir::Ocean),
        ),
        (
            "lion",
            &["mane", "roar", "south", "king"],
            [225, 165, 60],
            [150, 80, 30],
            Shape::Quad(Quad {
                mane: true,
                tail: 0.45,
                ..q(0.56, 0.3, 0.28, Ears::Round)
            }),
            Some(Dir::South),
        ),
    ];
    for (name, w, c, c2, s, reg) in animals {
        b.add(Animal, name, w, c, c2, s, A, reg);
    }

    // The costumed-hero universe: a spider hero with an alter ego, his villains and allies, and other heroes.
    let hero = |emblem, cape, mask| Shape::Hero { emblem, cape, mask };
    let characters: [(&str, &[&str], [u8; 3], [u8; 3], Shape); 13] = [
        (
            "webstrider",
            &["theo marsh", "spider", "hero", "web", "red"],
            [210, 25, 35],
            [30, 60, 190],
            hero(Emblem::Spider, false, true),
        ),
        (
            "theo marsh",
            &["webstrider", "student", "glasses", "camera"],
            [90, 120, 170],
            [200, 170, 130],
            hero(Emblem::Eye, false, false),
        ),
        (
            "doctor venom",
            &["villain", "webstrider", "poison", "green"],
            [60, 170, 50],
            PURPLE,
            hero(Emblem::Drop, true, true),
        ),
        (
            "scorpix",
            &["villain", "webstrider", "sting", "tail"],
            [40, 120, 40],
            YELLOW,
            hero(Emblem::Skull, false, true),
        ),
        (
            "inkblot",
            &["villain", "webstrider", "shadow", "black"],
            BLACK,
            WHITE,
            hero(Emblem::Eye, true, true),
        ),
        (
            "silkwing",
            &["ally", "webstrider", "hero", "white"],
            WHITE,
            [220, 40, 120],
            hero(Emblem::Wing, false, true),
        ),
        (
            "captain comet",
            &["ally", "webstrider", "space", "star"],
            [30, 60, 160],
            [240, 240, 240],
            hero(Emblem::Star, true, false),
        ),
        (
            "frostbyte",
            &["ice", "hero", "cold", "snow"],
            [140, 210, 240],
            WHITE,
            hero(Emblem::Snowflake, true, true),
        ),
        (
            "blaze knight",
            &["fire", "hero", "flame", "sword"],
            [240, 100, 20],
            [140, 20, 20],
            hero(Emblem::Flame, true, false),
        ),
        (
            "volt vixen",
            &["lightning", "hero", "electric", "storm"],
            [250, 215, 30],
            PURPLE,
            hero(Emblem::Bolt, false, true),
        ),
        (
            "night moth",
            &["night", "moon", "hero", "dark"],
            [70, 40, 120],
            [200, 200, 230],
            hero(Emblem::Moon, true, true),
        ),
        (
            "ivy warden",
            &["plant", "leaf", "hero", "forest"],
            DARKGREEN,
            [140, 200, 60],
            hero(Emblem::Leaf, true, false),
        ),
        (
            "solar sentinel",
            &["sun", "hero", "gold", "light"],
            GOLD,
            [200, 60, 20],
            hero(Emblem::Sun, true, false),
        ),
    ];
    for (name, w, c, c2, s) in characters {
        b.add(Character, name, w, c, c2, s, Bare, None);
    }

    let emotions: [(&str, &[&str], [u8; 3], Mood); 10] = [
        (
            "happy",
            &["joy", "smile", "yay", "glad"],
            YELLOW,
            Mood::Happy,
        ),
        (
            "sad",
            &["unhappy", "tears", "sob", "blue"],
            [110, 160, 230],
            Mood::Sad,
        ),
        (
            "surprised",
            &["omg", "wow", "shocked", "whoa"],
            [250, 180, 40],
            Mood::Surprised,
        ),
        (
            "angry",
            &["mad", "grr", "furious", "rage"],
            [230, 50, 40],
            Mood::Angry,
        ),
        (
            "scared",
            &["afraid", "eek", "fear", "spooky"],
            [190, 170, 230],
            Mood::Scared,
        ),
        (
            "sleepy",
            &["tired", "zzz", "yawn", "bedtime"],
            [150, 200, 235],
            Mood::Sleepy,
        ),
        (
            "stressed",
            &["anxious", "ugh", "worried", "overwhelmed"],
            [200, 210, 120],
            Mood::Stressed,
        ),
        (
            "love",
            &["heart", "xoxo", "crush", "adore"],
            PINK,
            Mood::Love,
        ),
        (
            "disgusted",
            &["gross", "yuck", "ew", "sick"],
            [130, 190, 60],
            Mood::Disgusted,
        ),
        (
            "laughing",
            &["lol", "haha", "funny", "lmao"],
            [255, 200, 50],
            Mood::Laughing,
        ),
    ];
    for (name, w, c, m) in emotions {
        b.add(Emotion, name, w, c, BLACK, Shape::Face(m), Bare, None);
    }

    let regions: [(&str, &[&str], [u8; 3], [u8; 3], Dir); 5] = [
        (
            "north",
            &["bear", "moose", "conifer", "snow", "cold"],
            [225, 235, 245],
            DARKGREEN,
            Dir::North,
        ),
        (
            "south",
            &["desert", "camel", "cactus", "sun", "hot"],
            [235, 195, 110],
            ORANGE,
            Dir::South,
        ),
        (
            "east",
            &["bamboo", "elephant", "rain", "jungle"],
            [90, 180, 90],
            [40, 120, 60],
            Dir::East,
        ),
        (
            "west",
            &["canyon", "cactus", "snake", "mesa"],
            [200, 100, 50],
            [240, 180, 90],
            Dir::West,
        ),
        (
            "ocean",
            &["water", "whale", "fish", "waves", "blue"],
            [40, 110, 200],
            [150, 200, 240],
            Dir::Ocean,
        ),
    ];
    for (name, w, c, c2, d) in regions {
        b.add(Geography, name, w, c, c2, Shape::Region(d), The, Some(d));
    }
    for (i, (name, d, layout, c1, c2, c3, w)) in COUNTRIES.iter().enumerate() {
        let shape = Shape::Country {
            layout: *layout,
            c3: *c3,
            blob: 7919 * (i as u32 + 1),
        };
        b.add(Geography, name, w, *c1, *c2, shape, Bare, Some(*d));
    }

    let plants: [(&str, &[&str], [u8; 3], [u8; 3], Shape, Option<Dir>); 8] = [
        (
            "conifer",
            &["pine", "north", "forest", "evergreen"],
            DARKGREEN,
            BROWN,
            Shape::Conifer,
            Some(Dir::North),
        ),
        (
            "palm tree",
            &["beach", "south", "coconut", "tropical"],
            [60, 160, 60],
            [150, 100, 50],
            Shape::Palm,
            Some(Dir::South),
        ),
        (
            "cactus",
            &["desert", "spines", "south", "dry"],
            [70, 150, 70],
            PINK,
            Shape::Cactus,
            Some(Dir::South),
        ),
        (
            "bamboo",
            &["east", "panda", "stalk", "green"],
            [130, 190, 70],
            DARKGREEN,
            Shape::Bamboo,
            Some(Dir::East),
        ),
        (
            "oak",
            &["tree", "acorn", "leaves", "west"],
            [70, 140, 50],
            BROWN,
            Shape::Oak,
            Some(Dir::West),
        ),
        (
            "sunflower",
            &["yellow", "seeds", "summer", "petals"],
            YELLOW,
            BROWN,
            Shape::Sunflower,
            None,
        ),
        (
            "rose",
            &["red", "love", "thorns", "petals"],
            [215, 30, 60],
            GREEN,
            Shape::Rose,
            None,
        ),
        (
            "tulip",
            &["spring", "pink", "bulb", "petals"],
            [240, 90, 150],
            GREEN,
            Shape::Tulip,
            None,
        ),
    ];
    for (name, w, c, c2, s, reg) in plants {
        b.add(Plant, name, w, c, c2, s, A, reg);
    }

    let weather: [(&str, &[&str], [u8; 3], [u8; 3], Shape); 11] = [
        (
            "sun",
            &["sunny", "yellow", "hot", "summer"],
            [250, 200, 30],
            ORANGE,
            Shape::Sun,
        ),
        (
            "cloud",
            &["cloudy", "white", "sky", "grey"],
            [235, 238, 245],
            [170, 180, 195],
            Shape::Cloud,
        ),
        (
            "rain",
            &["rainy", "wet", "umbrella", "drops"],
            [60, 120, 220],
            [150, 160, 175],
            Shape::Rain,
        ),
        (
            "snow",
            &["snowy", "cold", "white", "flakes"],
            [235, 245, 255],
            [110, 160, 220],
            Shape::Snow,
        ),
        (
            "storm",
            &["thunder", "lightning", "dark", "wind"],
            [80, 85, 105],
            YELLOW,
            Shape::Storm,
        ),
        (
            "rainbow",
            &["colours", "arc", "after rain", "bright"],
            RED,
            BLUE,
            Shape::Rainbow,
        ),
        (
            "wind",
            &["windy", "breeze", "gust", "blow"],
            [170, 210, 225],
            [90, 140, 170],
            Shape::Wind,
        ),
        (
            "spring",
            &["blossom", "flowers", "green", "tulip"],
            [245, 160, 200],
            [110, 190, 80],
            Shape::Spring,
        ),
        (
            "summer",
            &["hot", "beach", "sun", "holiday"],
            [250, 190, 40],
            [60, 150, 220],
            Shape::Summer,
        ),
        (
            "autumn",
            &["fall", "leaves", "orange", "pumpkin"],
            [225, 110, 30],
            [150, 60, 20],
            Shape::Autumn,
        ),
        (
            "winter",
            &["cold", "snow", "ice", "snowman"],
            [230, 240, 250],
            [40, 80, 160],
            Shape::Winter,
        ),
    ];
    for (name, w, c, c2, s) in weather {
        b.add(Weather, name, w, c, c2, s, Bare, None);
    }

    // Letters and numbers: alphabet-block colours cycle so colour is a weak cue, the glyph the strong one.
    let block = [
        RED,
        BLUE,
        GREEN,
        ORANGE,
        PURPLE,
        [20, 150, 160],
        [200, 40, 120],
        BROWN,
    ];
    let a_is_for = [
        "apple",
        "bear",
        "cat",
        "dog",
        "elephant",
        "fish",
        "grapes",
        "happy",
        "ice",
        "jump",
        "kite",
        "lemon",
        "moose",
        "north",
        "ocean",
        "pig",
        "queen",
        "rain",
        "spider",
        "taxi",
        "umbrella",
        "violet",
        "whale",
        "xylophone",
        "yellow",
        "zebra",
    ];
    for (i, ch) in ('a'..='z').enumerate() {
        let name = format!("letter {ch}");
        let single = ch.to_string();
        let upper = ch.to_ascii_uppercase().to_string();
        b.add(
            Symbol,
            &name,
            &[&single, &upper, a_is_for[i], "alphabet"],
            block[i % block.len()],
            WHITE,
            Shape::Glyph(ch.to_ascii_uppercase()),
            Bare,
            None,
        );
    }
    let numbers = [
        "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
    ];
    for (i, word) in numbers.iter().enumerate() {
        let digit = char::from(b'0' + i as u8);
        let name = format!("number {word}");
        b.add(
            Symbol,
            &name,
            &[&digit.to_string(), word, "count", "number"],
            block[(i + 3) % block.len()],
            WHITE,
            Shape::Glyph(digit),
            Bare,
            None,
        );
    }
    b.list
}

impl Dir {
    pub fn name(self) -> &'static str {
        match self {
            Dir::North => "north",
            Dir::South => "south",
            Dir::East => "east",
            Dir::West => "west",
            Dir::Ocean => "ocean",
        }
    }
}
