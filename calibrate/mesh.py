"""Named places on MediaPipe's 478-point face mesh (topology facts, not data).

"Left"/"right" here are the *image* sides of a non-mirrored photo: the eye on
the image left is the subject's right eye.
"""

from __future__ import annotations

# Points that barely move with expressions: pose and face size are measured on them.
RIGID = (33, 133, 362, 263, 168, 6, 197, 195, 5, 4, 1, 2, 10, 151, 9, 8, 234, 454, 127, 356)
# The rigid points above the nose (eye corners, nose bridge, forehead): the
# lower nose and the cheek outline of RIGID shift with the jaw when the mouth
# moves, which a fit over them reads as part of a nod.
UPPER_RIGID = (33, 133, 362, 263, 168, 6, 197, 195, 10, 151, 9, 8)

EYE_OUTER_LEFT = 33  # outer corner of the eye on the image left
EYE_INNER_LEFT = 133
EYE_INNER_RIGHT = 362
EYE_OUTER_RIGHT = 263
FOREHEAD = 10
NOSE_BRIDGE = 168
NOSE_TIP = 1
NOSE_BOTTOM = 2
CHIN = 152

# Upper/lower lid mid points of each eye (image-left eye, image-right eye).
LID_UPPER = (159, 386)
LID_LOWER = (145, 374)
EYE_CORNERS = ((33, 133), (362, 263))
# Refined iris centres and rings (present with refine_landmarks=True).
IRIS_CENTER = (468, 473)
IRIS_RING = ((469, 470, 471, 472), (474, 475, 476, 477))

# Eye contours (closed loops), image-left eye then image-right eye.
EYE_CONTOUR = (
    (33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246),
    (362, 382, 381, 380, 374, 373, 390, 249, 263, 466, 388, 387, 386, 385, 384, 398),
)
UPPER_LID = ((33, 246, 161, 160, 159, 158, 157, 173, 133), (362, 398, 384, 385, 386, 387, 388, 466, 263))
LOWER_LID = ((33, 7, 163, 144, 145, 153, 154, 155, 133), (362, 382, 381, 380, 374, 373, 390, 249, 263))
BROWS = (
    (70, 63, 105, 66, 107, 55, 65, 52, 53, 46),
    (300, 293, 334, 296, 336, 285, 295, 282, 283, 276),
)

MOUTH_CORNERS = (61, 291)
LIP_INNER_UPPER_MID = 13
LIP_INNER_LOWER_MID = 14
# Inner lip contour, a closed loop from the image-left corner along the upper lip.
LIPS_INNER = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308, 324, 318, 402, 317, 14, 87, 178, 88, 95)
LIPS_OUTER = (61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291, 375, 321, 405, 314, 17, 84, 181, 91, 146)
# The lips' body between those contours: the two rings of each lip between
# its inner and outer contour, corner to corner (the mesh's own layout).
LIPS_BODY = (
    76, 184, 74, 73, 72, 11, 302, 303, 304, 408, 306, 62, 183, 42, 41, 38, 12, 268, 271, 272, 407, 292,
    77, 90, 180, 85, 16, 315, 404, 320, 307, 96, 89, 179, 86, 15, 316, 403, 319, 325,
)

# The face outline, a closed loop starting at the forehead going clockwise in the image.
FACE_OVAL = (
    10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400,
    377, 152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109,
)


# MIRROR[i] is the point at the mirror-image place of point i (left eye ↔
# right eye, midline points map to themselves); an involution. Found once by
# optimal assignment between a frontal canonical mesh (median over real talking
# clips) and its x-reflection, and checked against MediaPipe's eye, brow, iris,
# lip and face-oval connection sets (all map onto their mirror sets exactly).
MIRROR = (
    0, 1, 2, 248, 4, 5, 6, 249, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 250, 251, 252,
    253, 254, 255, 256, 257, 258, 259, 260, 261, 262, 263, 264, 265, 266, 267, 268, 269, 270,
    271, 272, 273, 274, 275, 276, 277, 278, 279, 280, 281, 282, 283, 284, 285, 286, 287, 288,
    289, 290, 291, 292, 293, 294, 295, 296, 297, 298, 299, 300, 301, 302, 303, 304, 305, 306,
    307, 308, 309, 310, 311, 312, 313, 314, 315, 316, 317, 318, 319, 320, 321, 322, 323, 94,
    324, 325, 326, 327, 328, 329, 330, 331, 332, 333, 334, 335, 336, 337, 338, 339, 340, 341,
    342, 343, 344, 345, 346, 347, 348, 349, 350, 351, 352, 353, 354, 355, 356, 357, 358, 359,
    360, 361, 362, 363, 364, 365, 366, 367, 368, 369, 370, 371, 372, 373, 374, 375, 376, 377,
    378, 379, 151, 152, 380, 381, 382, 383, 384, 385, 386, 387, 388, 389, 390, 164, 391, 392,
    393, 168, 394, 395, 396, 397, 398, 399, 175, 400, 401, 402, 403, 404, 405, 406, 407, 408,
    409, 410, 411, 412, 413, 414, 415, 416, 417, 418, 195, 419, 197, 420, 199, 200, 421, 422,
    423, 424, 425, 426, 427, 428, 429, 430, 431, 432, 433, 434, 435, 436, 437, 438, 439, 440,
    441, 442, 443, 444, 445, 446, 447, 448, 449, 450, 451, 452, 453, 454, 455, 456, 457, 458,
    459, 460, 461, 462, 463, 464, 465, 466, 467, 3, 7, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29,
    30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 52,
    53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 64, 65, 66, 67, 68, 69, 70, 71, 72, 73, 74, 75,
    76, 77, 78, 79, 80, 81, 82, 83, 84, 85, 86, 87, 88, 89, 90, 91, 92, 93, 95, 96, 97, 98, 99,
    100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110, 111, 112, 113, 114, 115, 116, 117,
    118, 119, 120, 121, 122, 123, 124, 125, 126, 127, 128, 129, 130, 131, 132, 133, 134, 135,
    136, 137, 138, 139, 140, 141, 142, 143, 144, 145, 146, 147, 148, 149, 150, 153, 154, 155,
    156, 157, 158, 159, 160, 161, 162, 163, 165, 166, 167, 169, 170, 171, 172, 173, 174, 176,
    177, 178, 179, 180, 181, 182, 183, 184, 185, 186, 187, 188, 189, 190, 191, 192, 193, 194,
    196, 198, 201, 202, 203, 204, 205, 206, 207, 208, 209, 210, 211, 212, 213, 214, 215, 216,
    217, 218, 219, 220, 221, 222, 223, 224, 225, 226, 227, 228, 229, 230, 231, 232, 233, 234,
    235, 236, 237, 238, 239, 240, 241, 242, 243, 244, 245, 246, 247, 473, 476, 475, 474, 477,
    468, 471, 470, 469, 472,
)
