"""Word lists the catalog generator draws from (data only; ``generate.py`` has the logic).

Each product type is one "query bucket" in WebShop's sense: the products share ``query``, a breadcrumb of
at least three levels and a pool of attributes and option values. Option values are stored already
normalised the way WebShop's loader does it (lowercase, ``/`` → `` | ``) and never contain ``[`` or ``]``
(they are clicked as ``click[value]``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ProductType:
    category: str  # coarse bucket: fashion, beauty, electronics, grocery, furniture
    query: str  # the shared search query bucket (goal's ``query``; used by the type reward)
    breadcrumb: str  # joined with " › " like Amazon's
    nouns: tuple[str, ...]  # title head phrases (title case)
    asks: tuple[str, ...]  # how a shopper names the thing in an instruction (lowercase)
    attributes: tuple[str, ...]  # pool of mined attribute phrases (lowercase)
    options: tuple[tuple[str, tuple[str, ...]], ...]  # option group -> value pool
    price: tuple[float, float]
    uses: tuple[str, ...] = ()


def _t(category: str, query: str, crumbs: str, nouns: str, asks: str, attrs: str, options: dict[str, str],
       price: tuple[float, float], uses: str = "") -> ProductType:
    split = lambda s: tuple(x.strip() for x in s.split(";") if x.strip())  # noqa: E731
    return ProductType(category, query, " › ".join(split(crumbs)), split(nouns), split(asks), split(attrs),
                       tuple((k, split(v)) for k, v in options.items()), price, split(uses))


COLORS = ("black;white;navy blue;grey;heather grey;red;burgundy;wine red;pink;light pink;hot pink;purple;"
          "lavender;blue;light blue;royal blue;sky blue;teal;green;olive green;army green;mint;yellow;"
          "mustard;orange;coral;beige;khaki;brown;coffee;camel;ivory;cream;silver;gold;rose gold;multicolor;"
          "black | white;navy | white;red | black;leopard;floral;charcoal;denim blue;apricot")
APPAREL_SIZES = "x-small;small;medium;large;x-large;xx-large;3x-large"
SHOE_SIZES = "5;5.5;6;6.5;7;7.5;8;8.5;9;9.5;10;10.5;11;12;13"

TYPES: tuple[ProductType, ...] = (
    # ---- fashion ------------------------------------------------------------------------------------
    _t("fashion", "women's dresses", "Clothing, Shoes & Jewelry; Women; Clothing; Dresses",
       "Maxi Dress;Wrap Dress;Midi Dress;Sundress;Swing Dress;Shift Dress;Bodycon Dress",
       "dress;summer dress;dress for women;casual dress",
       "machine wash;hand wash;short sleeve;long sleeve;v-neck;floral print;polyester spandex;pockets;"
       "high waist;button closure;elastic waist;loose fit;cotton blend;tie waist",
       {"color": COLORS, "size": APPAREL_SIZES}, (14.99, 59.99),
       "daily wear;beach vacation;cocktail party;office"),
    _t("fashion", "men's t-shirts", "Clothing, Shoes & Jewelry; Men; Clothing; Shirts; T-Shirts",
       "Crew Neck T-Shirt;Graphic Tee;Performance Tee;Pocket T-Shirt;Henley Shirt",
       "t-shirt;tee shirt;men's t-shirt;shirt",
       "machine wash;short sleeve;long sleeve;cotton;moisture wicking;quick dry;classic fit;slim fit;"
       "tagless;pre-shrunk;crew neck;v-neck;regular fit",
       {"color": COLORS, "size": APPAREL_SIZES}, (9.99, 34.99), "gym workout;everyday;running;lounging"),
    _t("fashion", "men's jeans", "Clothing, Shoes & Jewelry; Men; Clothing; Jeans",
       "Straight Leg Jeans;Slim Fit Jean;Relaxed Fit Denim;Bootcut Jeans;Stretch Jeans",
       "jeans;denim jeans;men's jeans;pair of jeans",
       "machine wash;button closure;zipper closure;stretch denim;slim fit;relaxed fit;straight leg;"
       "five pocket;cotton blend;classic fit",
       {"color": "dark wash;light wash;medium wash;black;rinse;stonewash;grey",
        "size": "28w x 30l;30w x 30l;30w x 32l;32w x 30l;32w x 32l;34w x 32l;34w x 34l;36w x 32l;38w x 30l"},
       (19.99, 69.99), "work;casual wear;weekend"),
    _t("fashion", "women's running shoes", "Clothing, Shoes & Jewelry; Women; Shoes; Athletic; Running",
       "Running Shoes;Road Running Sneakers;Trail Running Shoe;Lightweight Sneakers;Walking Shoes",
       "running shoes;sneakers for women;athletic shoes;walking shoes",
       "rubber sole;non slip;arch support;memory foam;breathable mesh;lightweight;lace up;slip resistant;"
       "cushioned;shock absorbing;wide toe box",
       {"color": COLORS, "size": SHOE_SIZES}, (29.99, 119.99), "jogging;gym;walking;tennis"),
    _t("fashion", "men's boots", "Clothing, Shoes & Jewelry; Men; Shoes; Boots",
       "Chelsea Boots;Work Boots;Hiking Boots;Combat Boots;Chukka Boots",
       "boots;men's boots;work boots;leather boots",
       "rubber sole;leather;waterproof;steel toe;slip resistant;lace up;ankle high;anti-slip;padded collar",
       {"color": "black;brown;dark brown;tan;wheat;grey;olive;burgundy", "size": SHOE_SIZES}, (39.99, 179.99),
       "hiking;construction work;winter;everyday"),
    _t("fashion", "women's leggings", "Clothing, Shoes & Jewelry; Women; Clothing; Active; Leggings",
       "Yoga Leggings;High Waisted Leggings;Workout Leggings;Capri Leggings;Fleece Lined Leggings",
       "leggings;yoga pants;workout leggings;tights",
       "high waist;tummy control;butt lifting;moisture wicking;four-way stretch;squat proof;pockets;"
       "polyester spandex;machine wash;fleece lined",
       {"color": COLORS, "size": APPAREL_SIZES}, (12.99, 39.99), "yoga;running;gym workout;daily wear"),
    _t("fashion", "winter hats",
       "Clothing, Shoes & Jewelry; Women; Accessories; Hats & Caps; Skullies & Beanies",
       "Knit Beanie;Cuffed Beanie;Slouchy Beanie Hat;Pom Pom Beanie;Fleece Skull Cap",
       "beanie;winter hat;knit hat;warm hat",
       "soft;warm;acrylic;fleece lined;one size;stretchy;cable knit;hand wash;unisex",
       {"color": COLORS, "pack": "1 pack;2 pack;3 pack"}, (7.99, 24.99), "skiing;cold weather;outdoor"),
    _t("fashion", "men's socks", "Clothing, Shoes & Jewelry; Men; Clothing; Socks; Athletic Socks",
       "Athletic Crew Socks;Ankle Socks;Cushioned Sport Socks;No Show Socks;Compression Socks",
       "socks;crew socks;ankle socks;athletic socks",
       "cotton;moisture wicking;cushioned;arch support;breathable;machine wash;reinforced heel",
       {"color": "black;white;grey;assorted;navy;black | grey",
        "size": "shoe size 6-9;shoe size 9-12;shoe size 12-15",
        "count": "6 pairs;10 pairs;12 pairs"}, (9.99, 29.99), "running;hiking;everyday"),
    # ---- beauty -------------------------------------------------------------------------------------
    _t("beauty", "face moisturizer", "Beauty & Personal Care; Skin Care; Face; Creams & Moisturizers",
       "Face Moisturizer;Daily Facial Cream;Hydrating Gel Cream;Night Cream;Oil-Free Moisturizer",
       "face moisturizer;facial cream;moisturizing cream;face cream",
       "hyaluronic acid;vitamin c;fragrance free;paraben free;cruelty free;non-greasy;oil free;"
       "sensitive skin;anti aging;natural ingredients;dermatologist tested;long lasting",
       {"size": "1 fl oz;1.7 fl oz;2.5 fl oz;3.4 fl oz", "scent": "unscented;lavender;cucumber;rose;citrus"},
       (8.99, 48.0), "dry skin;oily skin;daily use"),
    _t("beauty", "shampoo", "Beauty & Personal Care; Hair Care; Shampoo & Conditioner; Shampoos",
       "Moisturizing Shampoo;Clarifying Shampoo;Volumizing Shampoo;Argan Oil Shampoo;Anti-Dandruff Shampoo",
       "shampoo;hair shampoo;bottle of shampoo",
       "sulfate free;paraben free;argan oil;tea tree;natural ingredients;color safe;cruelty free;"
       "dry hair;damaged hair;long lasting;coconut oil",
       {"size": "8.5 fl oz;13.5 fl oz;16.9 fl oz;33.8 fl oz", "pack": "pack of 1;pack of 2;pack of 3"},
       (6.99, 32.99), "curly hair;daily washing;thinning hair"),
    _t("beauty", "lipstick", "Beauty & Personal Care; Makeup; Lips; Lipstick",
       "Matte Lipstick;Liquid Lipstick;Satin Lip Color;Lip Stain;Creamy Lipstick",
       "lipstick;lip color;liquid lipstick",
       "long lasting;waterproof;matte finish;cruelty free;highly pigmented;moisturizing;vegan;transfer proof",
       {"color": "ruby red;nude pink;berry;coral crush;mauve;plum;classic red;peach;brick;rosewood;cherry"},
       (4.99, 26.0), "everyday makeup;wedding;night out"),
    _t("beauty", "eau de parfum", "Beauty & Personal Care; Fragrance; Women's; Eau de Parfum",
       "Eau de Parfum Spray;Eau de Toilette;Fragrance Mist;Perfume Spray",
       "perfume;eau de parfum;fragrance;bottle of perfume",
       "long lasting;floral scent;fresh scent;travel size;alcohol free;woody scent;vanilla;musk",
       {"size": "1 fl oz;1.7 fl oz;3.4 fl oz;6.76 fl oz",
        "scent": "original;intense;amber;citrus bloom;midnight"},
       (19.99, 129.0), "date night;everyday;gift"),
    _t("beauty", "hair extensions",
       "Beauty & Personal Care; Hair Care; Hair Extensions, Wigs & Accessories; Extensions",
       "Clip in Hair Extensions;Tape in Hair Extensions;Ponytail Extension;Synthetic Wig;Human Hair Bundle",
       "hair extensions;clip in extensions;wig",
       "human hair;synthetic hair;natural looking;heat resistant;straight;body wave;easy to apply;"
       "tangle free",
       {"color": "#1 jet black;#1b natural black;#2 dark brown;#4 medium brown;#27 honey blonde;"
                 "#613 bleach blonde;ombre",
        "length": "14 inch;16 inch;18 inch;20 inch;22 inch;24 inch"}, (15.99, 99.0),
       "daily wear;party;cosplay"),
    _t("beauty", "nail polish",
       "Beauty & Personal Care; Foot, Hand & Nail Care; Nail Art & Polish; Nail Polish",
       "Gel Nail Polish;Quick Dry Nail Polish;Nail Lacquer;Gel Polish Set",
       "nail polish;gel polish;nail lacquer",
       "long lasting;quick dry;non toxic;cruelty free;high gloss;chip resistant;vegan;easy to use",
       {"color": "cherry red;nude;glitter silver;baby pink;midnight blue;mint green;lilac;black",
        "set": "single bottle;set of 6;set of 12"}, (3.99, 29.99), "home manicure;salon;gift"),
    _t("beauty", "body wash",
       "Beauty & Personal Care; Personal Care; Bath & Bathing Accessories; Body Washes",
       "Moisturizing Body Wash;Shower Gel;Exfoliating Body Wash;Foaming Body Wash",
       "body wash;shower gel;bottle of body wash",
       "natural ingredients;sulfate free;sensitive skin;essential oils;paraben free;shea butter;"
       "tea tree;dermatologist tested;cruelty free",
       {"scent": "eucalyptus mint;coconut;lavender;oatmeal;sandalwood;fresh rain",
        "size": "12 fl oz;16 fl oz;22 fl oz;32 fl oz"}, (5.99, 24.99), "dry skin;daily shower;men"),
    # ---- electronics --------------------------------------------------------------------------------
    _t("electronics", "wireless earbuds",
       "Electronics; Headphones, Earbuds & Accessories; Headphones & Earbuds; Earbud Headphones",
       "Wireless Earbuds;True Wireless Earphones;Bluetooth Earbuds;Sport Earbuds;Noise Cancelling Earbuds",
       "wireless earbuds;bluetooth earbuds;earphones",
       "noise cancelling;bluetooth 5.3;charging case;waterproof;built-in microphone;touch control;"
       "long battery life;deep bass;fast charging;ear hooks",
       {"color": "black;white;navy blue;rose gold;grey;green"}, (15.99, 149.99), "workout;commuting;calls"),
    _t("electronics", "phone cases", "Cell Phones & Accessories; Cases, Holsters & Sleeves; Basic Cases",
       "Phone Case;Slim Protective Case;Clear Case;Wallet Case;Rugged Armor Case",
       "phone case;case for my phone;protective case",
       "shockproof;slim;clear;wireless charging compatible;card holder;kickstand;anti-scratch;"
       "raised edges;drop protection;soft tpu",
       {"color": "black;clear;blue;pink;purple;green;red;midnight;glitter",
        "model": "iphone 13;iphone 14;iphone 15;iphone 15 pro;galaxy s23;galaxy s24;pixel 8"},
       (6.99, 29.99), "daily protection;travel"),
    _t("electronics", "usb c cables", "Electronics; Computers & Accessories; Cables; USB Cables",
       "USB C Cable;Braided Charging Cable;USB C to USB C Cord;Fast Charging Cable",
       "usb c cable;charging cable;charger cord",
       "fast charging;nylon braided;data transfer;durable;tangle free;60w;usb 3.0",
       {"color": "black;white;grey;red;blue", "length": "1 ft;3 ft;6 ft;10 ft",
        "quantity": "1 pack;2 pack;3 pack;5 pack"}, (5.99, 21.99), "car;office;travel"),
    _t("electronics", "power banks",
       "Electronics; Cell Phones & Accessories; Chargers & Power Adapters; Portable Power Banks",
       "Portable Charger;Power Bank;Magnetic Battery Pack;Slim Power Bank",
       "power bank;portable charger;battery pack",
       "fast charging;usb c;led display;high capacity;compact;dual output;wireless charging;lightweight",
       {"color": "black;white;blue;pink", "capacity": "5000mah;10000mah;20000mah;26800mah"},
       (14.99, 69.99), "travel;camping;emergencies"),
    _t("electronics", "bluetooth speakers",
       "Electronics; Portable Audio & Video; Portable Speakers & Docks; Portable Bluetooth Speakers",
       "Bluetooth Speaker;Portable Speaker;Waterproof Speaker;Party Speaker",
       "bluetooth speaker;portable speaker;wireless speaker",
       "waterproof;deep bass;long battery life;stereo sound;built-in microphone;dustproof;lightweight;"
       "led lights",
       {"color": "black;blue;red;grey;camo;teal"}, (19.99, 129.99), "outdoor;shower;party;camping"),
    _t("electronics", "memory cards",
       "Electronics; Computers & Accessories; Data Storage; Memory Cards; Micro SD Cards",
       "microSDXC Memory Card;SD Card;High Speed Memory Card;Micro SD Card with Adapter",
       "memory card;micro sd card;sd card",
       "high speed;adapter included;4k video;waterproof;class 10;shockproof;a2 rated",
       {"capacity": "32gb;64gb;128gb;256gb;512gb", "pack": "single;2 pack;4 pack"}, (6.99, 59.99),
       "cameras;nintendo switch;dash cams"),
    _t("electronics", "computer mice",
       "Electronics; Computers & Accessories; Computer Accessories & Peripherals; "
       "Keyboards, Mice & Accessories; Mice",
       "Wireless Mouse;Ergonomic Mouse;Gaming Mouse;Silent Click Mouse;Vertical Mouse",
       "computer mouse;wireless mouse;mouse",
       "wireless;ergonomic;silent click;rechargeable;adjustable dpi;usb receiver;rgb lighting;bluetooth",
       {"color": "black;white;grey;pink;blue"}, (9.99, 59.99), "laptop;office;gaming"),
    _t("electronics", "laptop stands", "Electronics; Computers & Accessories; Laptop Accessories; Stands",
       "Laptop Stand;Adjustable Laptop Riser;Foldable Notebook Stand;Aluminum Laptop Holder",
       "laptop stand;laptop riser;stand for my laptop",
       "adjustable height;aluminum;foldable;portable;ergonomic;heat dissipation;non slip",
       {"color": "silver;space grey;black;rose gold"}, (15.99, 49.99), "desk;home office;travel"),
    # ---- grocery ------------------------------------------------------------------------------------
    _t("grocery", "ground coffee",
       "Grocery & Gourmet Food; Beverages; Coffee, Tea & Cocoa; Coffee; Ground Coffee",
       "Ground Coffee;Medium Roast Coffee;Dark Roast Ground Coffee;Whole Bean Coffee;Cold Brew Coffee",
       "ground coffee;coffee;bag of coffee",
       "medium roast;dark roast;light roast;organic;fair trade;arabica;low acid;decaf;single origin;"
       "gluten free",
       {"flavor": "original;french vanilla;hazelnut;caramel;mocha;breakfast blend;colombian",
        "size": "12 ounce;12 ounce (pack of 2);2 pound;32 ounce"}, (7.99, 34.99),
       "drip coffee makers;french press"),
    _t("grocery", "protein bars", "Grocery & Gourmet Food; Snack Foods; Bars; Protein Bars",
       "Protein Bars;Keto Snack Bars;Plant Based Protein Bar;High Protein Snack Bar",
       "protein bars;snack bars;protein snacks",
       "gluten free;low sugar;high protein;keto friendly;non gmo;plant based;dairy free;low carb;soy free",
       {"flavor": "chocolate chip;peanut butter;cookies and cream;salted caramel;birthday cake;almond",
        "count": "4 count;12 count;15 count;24 count"}, (9.99, 39.99), "post workout;on the go;breakfast"),
    _t("grocery", "herbal tea", "Grocery & Gourmet Food; Beverages; Coffee, Tea & Cocoa; Tea; Herbal",
       "Herbal Tea;Caffeine Free Tea Bags;Organic Tea;Sleep Tea;Detox Tea",
       "herbal tea;tea bags;box of tea",
       "caffeine free;organic;non gmo;gluten free;kosher;natural ingredients;sugar free",
       {"flavor": "chamomile;peppermint;ginger;lemon;hibiscus;rooibos;green tea",
        "size": "20 count (pack of 6);16 count;40 count;100 count"}, (4.99, 24.99),
       "bedtime;digestion;relaxing"),
    _t("grocery", "mixed nuts", "Grocery & Gourmet Food; Snack Foods; Nuts & Seeds; Mixed Nuts",
       "Mixed Nuts;Roasted Cashews;Almonds;Trail Mix;Pistachios",
       "mixed nuts;nuts;trail mix",
       "roasted;unsalted;lightly salted;gluten free;non gmo;kosher;resealable bag;high protein;keto friendly",
       {"flavor": "sea salt;honey roasted;unsalted;smoked;chili lime",
        "size": "8 ounce;16 ounce;1.5 pound;3 pound"},
       (6.99, 29.99), "snacking;baking;road trips"),
    _t("grocery", "chocolate candy", "Grocery & Gourmet Food; Candy & Chocolate; Chocolate; Chocolate Bars",
       "Dark Chocolate Bar;Milk Chocolate Candy;Chocolate Truffles;Chocolate Covered Almonds",
       "chocolate;chocolate bars;candy",
       "dark chocolate;milk chocolate;individually wrapped;gluten free;fair trade;non gmo;sugar free;"
       "gift box",
       {"flavor": "sea salt caramel;mint;raspberry;orange;plain;toffee",
        "count": "3 bars;6 bars;12 bars;24 pieces"},
       (4.99, 34.99), "gifts;valentine's day;parties"),
    _t("grocery", "olive oil",
       "Grocery & Gourmet Food; Pantry Staples; Cooking Oils, Vinegars & Sprays; Oils; Olive",
       "Extra Virgin Olive Oil;Cold Pressed Olive Oil;Organic Olive Oil;Olive Oil Spray",
       "olive oil;extra virgin olive oil;bottle of olive oil",
       "extra virgin;cold pressed;organic;non gmo;first cold press;kosher;glass bottle;single origin",
       {"size": "16.9 fl oz;25.3 fl oz;33.8 fl oz;1 gallon", "pack": "pack of 1;pack of 2;pack of 4"},
       (8.99, 44.99), "cooking;salads;dipping"),
    _t("grocery", "beef jerky", "Grocery & Gourmet Food; Meat & Seafood; Jerky & Dried Meats; Beef Jerky",
       "Beef Jerky;Beef Sticks;Grass Fed Jerky;Meat Snack Sticks",
       "beef jerky;jerky;meat sticks",
       "high protein;grass fed;low sugar;gluten free;keto friendly;no preservatives;resealable bag",
       {"flavor": "original;teriyaki;peppered;sweet and hot;smoked",
        "size": "2.85 ounce;3.25 ounce;10 ounce;16 ounce"},
       (5.99, 34.99), "hiking;snacking;road trips"),
    # ---- furniture ----------------------------------------------------------------------------------
    _t("furniture", "sofas and couches", "Home & Kitchen; Furniture; Living Room Furniture; Sofas & Couches",
       "Sectional Sofa;Loveseat Sofa;Futon Couch;Mid Century Sofa;Convertible Sleeper Sofa",
       "sofa;couch;loveseat;sectional",
       "wood frame;living room;easy assembly;solid wood;high density foam;removable cushions;"
       "velvet;linen fabric;storage;small spaces",
       {"color": "grey;dark grey;beige;navy blue;green;brown;cream;blue;charcoal"}, (189.0, 989.0),
       "living room;apartment;office lounge"),
    _t("furniture", "office chairs", "Home & Kitchen; Furniture; Home Office Furniture; Home Office Chairs",
       "Office Chair;Ergonomic Desk Chair;Mesh Task Chair;Executive Chair;Gaming Chair",
       "office chair;desk chair;computer chair",
       "lumbar support;adjustable height;mesh back;swivel;armrests;easy assembly;high back;"
       "pu leather;headrest;heavy duty",
       {"color": "black;grey;white;blue;pink;brown"}, (59.99, 349.99), "home office;gaming;conference room"),
    _t("furniture", "bookcases", "Home & Kitchen; Furniture; Home Office Furniture; Bookcases",
       "Bookshelf;Ladder Shelf;Cube Storage Organizer;Industrial Bookcase;Corner Shelf",
       "bookshelf;bookcase;shelf",
       "easy assembly;engineered wood;metal frame;storage;industrial style;anti-tip;living room;open shelves",
       {"color": "rustic brown;black;white;oak;walnut;grey wash",
        "size": "3-tier;4-tier;5-tier;6-cube;9-cube"},
       (39.99, 229.99), "living room;home office;kids room"),
    _t("furniture", "bed frames",
       "Home & Kitchen; Furniture; Bedroom Furniture; Beds, Frames & Bases; Bed Frames",
       "Platform Bed Frame;Upholstered Bed Frame;Metal Bed Frame;Wood Bed Frame with Headboard",
       "bed frame;platform bed;bed",
       "easy assembly;no box spring needed;under bed storage;noise free;solid wood;headboard;"
       "heavy duty;metal frame",
       {"color": "black;grey;white;walnut;beige", "size": "twin;full;queen;king;california king"},
       (99.0, 599.0), "bedroom;guest room"),
    _t("furniture", "dining chairs", "Home & Kitchen; Furniture; Kitchen & Dining Room Furniture; Chairs",
       "Dining Chairs;Upholstered Side Chair;Mid Century Dining Chair;Farmhouse Chair",
       "dining chairs;kitchen chairs;chairs",
       "solid wood;upholstered;easy assembly;metal legs;velvet;faux leather;dining room;high back",
       {"color": "grey;green;navy;cream;black;cognac", "quantity": "set of 2;set of 4;set of 6"},
       (79.0, 459.0), "dining room;kitchen;restaurant"),
    _t("furniture", "tv stands",
       "Home & Kitchen; Furniture; Living Room Furniture; TV & Media Furniture; "
       "Television Stands & Entertainment Centers",
       "TV Stand;Entertainment Center;Media Console;Farmhouse TV Cabinet",
       "tv stand;entertainment center;media console",
       "storage;living room;cable management;engineered wood;easy assembly;open shelves;led lights;"
       "sliding barn door",
       {"color": "black;white;rustic oak;espresso;grey", "size": "55 inch;65 inch;70 inch;80 inch"},
       (79.99, 399.99), "living room;bedroom"),
    _t("furniture", "shoe racks",
       "Home & Kitchen; Storage & Organization; Clothing & Closet Storage; Shoe Organizers",
       "Shoe Rack;Shoe Storage Cabinet;Stackable Shoe Organizer;Entryway Shoe Bench",
       "shoe rack;shoe organizer;shoe storage",
       "easy assembly;metal frame;space saving;stackable;entryway;storage;bamboo;non-woven fabric",
       {"color": "black;white;natural;brown;grey", "size": "3-tier;4-tier;5-tier;10-tier"},
       (15.99, 89.99), "entryway;closet;garage"),
)

BRAND_HEADS = ("lum", "vex", "bri", "cor", "ald", "nov", "zen", "kal", "mar", "ost", "pel", "rav", "sol",
               "tam", "ul", "wyn", "hal", "jor", "fen", "dar", "quin", "sab", "ter", "vel", "yor", "ber",
               "cal", "mi")
BRAND_TAILS = ("ora", "ton", "ix", "well", "ette", "ly", "io", "ar", "ex", "ana", "ova", "crest", "field",
               "hive", "mark", "wood", "stone", "lane", "nest", "vale")

# Sentences for descriptions. Slots: {brand} {noun} {a} {b} {use} {ask}.
DESCRIPTION = (
    "The {brand} {noun} is made for {use}, with {a} and {b} built in.",
    "Meet the {noun} from {brand}: {a}, {b}, and ready for {use}.",
    "Designed with {a} in mind, this {noun} keeps up with {use} day after day.",
    "{brand} pairs {a} with {b} so you never have to choose between comfort and quality.",
    "Whether it is for {use} or a gift, this {ask} offers {a} at an honest price.",
    "Our team tested every {noun} for {b} before it left the workshop.",
    "A simple, reliable {ask} that brings {a} to {use}.",
    "Customers choose {brand} for {b}; this {noun} is no exception.",
    "Thoughtful details such as {a} make this {noun} a favourite for {use}.",
    "If you have been looking for a {ask} with {b}, this is it.",
    "Every {brand} {noun} is backed by a 30-day satisfaction promise.",
    "Pack it, use it, love it: a {noun} with {a} for {use}.",
)
# Sentences only one category uses, mixed in so descriptions read like their department's listings.
CATEGORY_DESCRIPTION = {
    "fashion": ("The cut is true to size; if you are between sizes, we suggest sizing up.",
                "Soft against the skin and easy to pair with jeans, skirts or shorts.",
                "Colours may vary slightly from the photos because of screen settings.",
                "Wash with similar colours and hang to dry to keep the {a} looking new."),
    "beauty": ("Apply a small amount and massage gently until absorbed.",
               "Patch test before first use, especially on sensitive skin.",
               "Free from harsh additives, with {a} for a clean routine.",
               "Store in a cool, dry place away from direct sunlight."),
    "electronics": ("Compatible with most phones, tablets and laptops.",
                    "Plug and play: no drivers or apps needed to get started.",
                    "Backed by an 18-month warranty and friendly technical support.",
                    "Certified for safety, with protection against overheating and short circuits."),
    "grocery": ("Packed fresh in a facility that also handles tree nuts and wheat.",
                "Enjoy it on its own or as part of your favourite recipe.",
                "Sourced from trusted growers and packed for freshness.",
                "Great taste with {a}, the way it should be."),
    "furniture": ("All hardware and tools are included; most customers finish assembly in under an hour.",
                  "Please check the dimensions in the pictures to make sure it fits your space.",
                  "Wipe clean with a damp cloth; avoid harsh chemicals.",
                  "The sturdy frame supports daily use, and {a} keeps it looking great."),
}
# Feature bullets. {A} is an attribute in upper case, the way many listings write them.
BULLET = (
    "{A}: {benefit}.",
    "{A} - {benefit}, so it fits right into {use}.",
    "{benefit_cap} thanks to {a}.",
    "{A} DESIGN: {benefit}.",
    "Why {a}? {benefit_cap}.",
)
BENEFITS = (
    "built to last through everyday use", "a small detail that makes a big difference",
    "tested by our quality team", "comfortable from the first use", "easy to care for and clean",
    "a favourite of repeat customers", "made with carefully chosen materials", "great value for the price",
    "looks good and works even better", "ideal as a gift for friends and family",
    "holds up well over time", "simple to set up and use",
)
EXTRA_BULLETS = (
    "Satisfaction guarantee: contact us any time and we will make it right.",
    "Package includes: 1 x {noun} and a user guide.",
    "Please check the size chart in the images before ordering.",
    "Ships in recyclable packaging.",
    "Great for {use}.",
    "Our customer service team answers within 24 hours.",
)
REVIEW_TITLES = {
    5: ("Love it!", "Exactly what I wanted", "Five stars", "Great buy", "Highly recommend"),
    4: ("Very good", "Pretty happy with it", "Good value", "Nice, with one small issue"),
    3: ("It's okay", "Average", "Does the job", "Mixed feelings"),
    2: ("Not great", "Disappointed", "Expected more"),
    1: ("Would not buy again", "Poor quality", "Returned it"),
}
REVIEW_BODIES = {
    5: ("I use it for {use} and the {a} really shows.", "Bought this for my sister and she loves the {a}.",
        "Arrived fast, works perfectly, and the {a} is as described.",
        "Second one I've bought. The {a} is the best part."),
    4: ("Good {ask} overall. The {a} is nice, shipping was a bit slow.",
        "Does what it says; {a} as advertised.",
        "Solid for {use}, though the colour is slightly different from the photos."),
    3: ("It's fine for the price. The {a} is okay but not amazing.", "Works, but I expected better {a}."),
    2: ("The {a} wore off quickly.", "Not what I hoped for {use}."),
    1: ("Broke after a week.", "Nothing like the description; no {a} at all."),
}

# Instruction wording. {ask} thing, {attrs} attribute phrase, {opts} option phrase.
INSTRUCTION = (
    "i need {attrs} {ask}{opts}",
    "i'm looking for {attrs} {ask}{opts}",
    "i want to buy {attrs} {ask}{opts}",
    "find me {attrs} {ask}{opts}",
    "can you find me {attrs} {ask}{opts}",
    "i am looking for a {ask} that is {attrs}{opts}",
    "i want a {ask} which is {attrs}{opts}",
    "show me {attrs} {ask}{opts}",
    "get me {attrs} {ask}{opts}",
    "i would like {attrs} {ask}{opts}",
    "looking for {attrs} {ask}{opts}",
    "i need a {ask} with {attrs}{opts}",
)
# How one option is phrased; a group name without its own entry uses the generic ones.
OPTION_PHRASES = {
    "color": ("in {v} color", "{v} colored", "and the color should be {v}", "in the color {v}"),
    "size": ("in size {v}", "size {v}", "and it should be {v} in size", "with a size of {v}"),
    "flavor": ("{v} flavor", "in the {v} flavor", "with {v} flavor"),
    "scent": ("with a {v} scent", "{v} scented", "in the scent {v}"),
    "_": ("with {name} {v}", "and {name}: {v}", "{v}", "in {v}"),
}
