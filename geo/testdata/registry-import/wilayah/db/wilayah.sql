/*
BISMILLAAHIRRAHMAANIRRAHIIM - In the Name of Allah, Most Gracious, Most Merciful
================================================================================
filename : db/wilayah.sql
purpose  :
note     : Data Kode Wilayah sesuai Kepmendagri No 300.2.2-2138 Tahun 2025
create   : 2025-05-25 14:41:15
last edit: 2026-02-13 16:45:21
author   : cahya dsn
================================================================================
This program is free software; you can redistribute it and/or modify it under the
terms of the MIT License.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.

See the MIT License for more details

copyright (c) 2025 by cahya dsn; cahyadsn@gmail.com
================================================================================*/
--
-- Dumping data for table wilayah
--

-- Provinsi DAERAH ISTIMEWA YOGYAKARTA (a few rows)
INSERT INTO wilayah (kode, nama)
VALUES
('34','Daerah Istimewa Yogyakarta'),
('34.02','Kabupaten Bantul'),
('34.02.02','Sanden'),
('34.02.02.2001','Gadingsari'),
('34.02.02.2002','Gadingharjo'),
('34.02.02.2003','Srigading'),
('34.02.02.2004','Murtigading'),
('34.71','Kota Yogyakarta'),
('34.71.01','Tegalrejo'),
('34.71.01.1001','Kricak'),
('34.71.01.1002','Karangwaru'),
('34.71.01.1003','Tegalrejo'),
('34.71.01.1004','Bener'),
('34.71.02','Jetis'),
('34.71.02.1001','Bumijo'),
('34.71.02.1002','Cokrodiningratan'),
('34.71.02.1003','Gowongan'),
('34.71.03','Gondokusuman'),
('34.71.03.1001','Demangan'),
('34.71.03.1002','Kotabaru'),
('34.71.03.1003','Klitren'),
('34.71.03.1004','Baciro'),
('34.71.03.1005','Terban');
